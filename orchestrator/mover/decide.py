"""Which printer pods the mover deletes, and why: from the API's pod list, with no I/O.

The shapes are the Kubernetes API's (API reference, "Workload Resources" / Pod v1, and
``core/v1`` types.go): a ``PodList`` has ``items``; a Pod has ``metadata`` (``name``,
``uid``, ``labels``, ``deletionTimestamp`` once it is being deleted), ``spec``
(``nodeName``, ``containers[].name`` and ``.resources.limits``/``.requests``) and
``status`` (``phase``, ``containerStatuses[]`` with ``name``, ``state`` and
``lastState``). A ``ContainerState`` holds one of ``waiting`` (``reason``), ``running``
or ``terminated`` (``exitCode``, ``reason``).

A pod is deleted only when every one of these holds, and left alone otherwise (a shape
that is not the API's is never a reason to delete):

- it is a fabfleet print server's pod (the labels rendering/k3s.py gives it) and asks
  for its printer's USB device (the extended resource ``fabfleet.io/printer-<name>``):
  the hub, cameras, simulators and printers reached over the network are never moved;
- it is not already being deleted, and has not ended (phase ``Succeeded``/``Failed``);
- its print server is not running now (waiting to be restarted, or just terminated), and
  its last run ended with status 75: the device was gone for ``--device-gone-timeout``
  (instance/web/server.py ``EXIT_DEVICE_GONE``). A print server running again after a 75
  (the printer plugged back into the same host) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
# The label carrying the printer's name in the fleet (rendering/k3s.py ``_labels``).
PRINTER_LABEL = "fabfleet.io/printer"
# A USB printer's pod asks for one unit of this resource, followed by the printer's name.
RESOURCE_PREFIX = "fabfleet.io/printer-"
# The print server's container in a printer pod.
CONTAINER = "printer"
# The print server's exit status when its device was gone (instance/web/server.py).
EXIT_DEVICE_GONE = 75
# What the mover lists: print servers' pods (simulators, cameras and the hub have other
# components); the resource check below keeps only those of USB printers.
SELECTOR = f"{PART_OF}=fabfleet,{COMPONENT}=printer"
ENDED = ("Succeeded", "Failed")


class ShapeError(ValueError):
    """The answer is not a pod list: nothing can be decided from it."""


@dataclass(frozen=True)
class Deletion:
    """A pod to delete (only if its uid is still ``uid``), and why, in words."""

    pod: str
    uid: str
    printer: str
    node: str | None
    why: str


def _mapping(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _named(entries: object, name: str) -> dict[str, Any] | None:
    if not isinstance(entries, list):
        return None
    found = [e for e in entries if isinstance(e, dict) and e.get("name") == name]
    return found[0] if len(found) == 1 else None


def _exit_code(state: object) -> int | None:
    terminated = _mapping((_mapping(state) or {}).get("terminated"))
    if terminated is None:
        return None
    code = terminated.get("exitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _asks_for_device(pod: dict[str, Any], printer: str) -> bool:
    spec = _mapping(pod.get("spec")) or {}
    container = _named(spec.get("containers"), CONTAINER)
    if container is None:
        return False
    resources = _mapping(container.get("resources")) or {}
    resource = f"{RESOURCE_PREFIX}{printer}"
    return any(resource in (_mapping(resources.get(kind)) or {}) for kind in ("limits", "requests"))


def judge(pod: object) -> Deletion | None:
    """The deletion ``pod`` calls for, or None to leave it alone."""
    pod = _mapping(pod)
    if pod is None:
        return None
    metadata = _mapping(pod.get("metadata")) or {}
    name, uid = metadata.get("name"), metadata.get("uid")
    labels = _mapping(metadata.get("labels")) or {}
    printer = labels.get(PRINTER_LABEL)
    if not (isinstance(name, str) and name and isinstance(uid, str) and uid):
        return None
    if labels.get(PART_OF) != "fabfleet" or labels.get(COMPONENT) != "printer":
        return None
    if not (isinstance(printer, str) and printer and _asks_for_device(pod, printer)):
        return None
    if metadata.get("deletionTimestamp") is not None:
        return None
    status = _mapping(pod.get("status")) or {}
    if status.get("phase") in ENDED:
        return None
    container = _named(status.get("containerStatuses"), CONTAINER)
    if container is None:
        return None
    state = _mapping(container.get("state")) or {}
    if "terminated" in state:
        code = _exit_code(state)
        now = "has just ended"
    elif "waiting" in state:
        code = _exit_code(container.get("lastState"))
        reason = (_mapping(state.get("waiting")) or {}).get("reason")
        now = f"is waiting ({reason})" if isinstance(reason, str) and reason else "is waiting"
    else:
        # Running (the device came back on this host), or a state this code does not know.
        return None
    if code != EXIT_DEVICE_GONE:
        return None
    spec = _mapping(pod.get("spec")) or {}
    node = spec.get("nodeName")
    node = node if isinstance(node, str) and node else None
    why = (
        f"its print server exited with status {EXIT_DEVICE_GONE} (its device was gone) and"
        f" {now}{f' on node {node}' if node else ''}; the new pod goes where the printer"
        " is plugged in now"
    )
    return Deletion(pod=name, uid=uid, printer=printer, node=node, why=why)


def decide(pod_list: object) -> list[Deletion]:
    """The pods of ``pod_list`` (a PodList, as the API answers) to delete; raises
    :class:`ShapeError` when it is no pod list."""
    listed = _mapping(pod_list)
    if listed is None or listed.get("kind") != "PodList":
        raise ShapeError("the answer is not a PodList")
    items = listed.get("items")
    if not isinstance(items, list):
        raise ShapeError("the PodList has no items")
    return [d for d in (judge(pod) for pod in items) if d is not None]
