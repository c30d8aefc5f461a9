"""The model of what runs: the fleet file turned, once, into a typed description of the stack.

Owns the frozen dataclasses of the stack (its services with their role, image, host device,
mounts, networks, settings, health check and route; the printers and cameras; the hub; the
proxy's routes; the udev links), the fixed paths and ports inside the containers, how an
image is named, and :func:`stack_of`, which builds the model from a :class:`Fleet`.

Every target renders from this model (``orchestrator.rendering``: udev, compose, nginx, the
hub's fleet.json; k3s next) and `fabfleet up`/`status` decide from it. It may not know any
target's syntax (no compose, nginx or Kubernetes words), render text, read or write files,
or touch Docker, udev or the network; it depends on the fleet's model and nothing else of
the orchestrator but the secrets' file names.
"""

from orchestrator.model.build import ModelError, cameras_of, printers_of, proxy_of, stack_of
from orchestrator.model.images import ROLES, image
from orchestrator.model.stack import (
    Argument,
    CameraEntry,
    Device,
    HealthCheck,
    Hub,
    Mount,
    Network,
    PrinterEntry,
    Proxy,
    Published,
    Route,
    Service,
    Setting,
    Stack,
    UdevLink,
)

__all__ = [
    "ROLES",
    "Argument",
    "CameraEntry",
    "Device",
    "HealthCheck",
    "Hub",
    "ModelError",
    "Mount",
    "Network",
    "PrinterEntry",
    "Proxy",
    "Published",
    "Route",
    "Service",
    "Setting",
    "Stack",
    "UdevLink",
    "cameras_of",
    "image",
    "printers_of",
    "proxy_of",
    "stack_of",
]
