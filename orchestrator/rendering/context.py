"""Names other parts imported from rendering before the stack had a model of its own.

They live in :mod:`orchestrator.model` (paths, images, errors) and
:mod:`orchestrator.rendering.nginx` (proxy settings) now; this module only passes them on
for the importers outside rendering (images, the demo, some tests) until they import
from there.
"""

from __future__ import annotations

from orchestrator.model.build import ModelError
from orchestrator.model.images import ROLES, image
from orchestrator.model.paths import (
    CAMERA_DEVICE,
    DATA_DIR,
    HUB_DIR,
    HUB_KEY,
    PRINTER_DEVICE,
    PRINTER_KEY,
    PROXY_CONF,
    PROXY_DIR,
    PROXY_KEY,
    SECRETS_DIR,
    SERVICE_PORT,
    SIMULATOR_PORT,
    service_address,
)
from orchestrator.rendering.nginx import DOCKER_RESOLVER, STACK_PROXY, ProxySettings

# The fleet cannot be rendered as it is: the model's error, under its old name.
RenderError = ModelError

__all__ = [
    "CAMERA_DEVICE",
    "DATA_DIR",
    "DOCKER_RESOLVER",
    "HUB_DIR",
    "HUB_KEY",
    "PRINTER_DEVICE",
    "PRINTER_KEY",
    "PROXY_CONF",
    "PROXY_DIR",
    "PROXY_KEY",
    "ROLES",
    "SECRETS_DIR",
    "SERVICE_PORT",
    "SIMULATOR_PORT",
    "STACK_PROXY",
    "ProxySettings",
    "RenderError",
    "image",
    "service_address",
]
