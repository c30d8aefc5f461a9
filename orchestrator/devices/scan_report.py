"""What `fabfleet scan` says about plugged-in devices: who is enrolled, and what is unsafe."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from orchestrator.devices.discovery import DeviceKind, UsbDevice
from orchestrator.fleet.model import USB_IDENTITY_FIELDS, Camera, Fleet, Printer

_ROLE: dict[DeviceKind, str] = {"serial": "printer", "camera": "camera"}


class NoIdentity(Exception):
    """A device with neither a serial number nor a port path; cannot be enrolled."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the user should know or do, about the devices it names."""

    nodes: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The devices, which enrolled entry each one is, and the findings."""

    devices: list[UsbDevice]
    enrolled: dict[str, str]  # node -> "printer <name>" / "camera <name>"
    findings: list[Finding]


def _entries(fleet: Fleet, kind: DeviceKind) -> list[Printer | Camera]:
    return list(fleet.printers) if kind == "serial" else list(fleet.cameras)


def _matches(entry: Printer | Camera, device: UsbDevice) -> bool:
    identity = entry.identity()
    if identity is None:
        return False
    field, value = identity
    return (field == "serial" and device.serial == value) or (
        field == "port_path" and device.port_path == value
    )


def shared_serials(devices: list[UsbDevice]) -> dict[tuple[DeviceKind, str], list[UsbDevice]]:
    """Serial numbers that more than one device of the same kind reports."""
    by_serial: dict[tuple[DeviceKind, str], list[UsbDevice]] = defaultdict(list)
    for device in devices:
        if device.serial:
            by_serial[(device.kind, device.serial)].append(device)
    return {key: found for key, found in by_serial.items() if len(found) > 1}


def choose_identity(device: UsbDevice, devices: list[UsbDevice]) -> tuple[str, str]:
    """The identity to enrol ``device`` by: its serial when unique, else its port path."""
    shared = shared_serials(devices)
    if device.serial and (device.kind, device.serial) not in shared:
        return "serial", device.serial
    if device.port_path:
        return "port_path", device.port_path
    raise NoIdentity(
        f"{device.node} has no unique serial number and udev gives no port path for it; "
        "plug it into a USB port directly (not through a hub udev cannot name)"
    )


def assess(devices: list[UsbDevice], fleet: Fleet) -> ScanReport:
    """Match ``devices`` against the fleet and find what could go wrong."""
    enrolled: dict[str, str] = {}
    findings: list[Finding] = []
    shared = shared_serials(devices)
    for device in devices:
        role = _ROLE[device.kind]
        owners = [e for e in _entries(fleet, device.kind) if _matches(e, device)]
        if owners:
            enrolled[device.node] = ", ".join(f"{role} {e.name}" for e in owners)
        if not device.serial:
            findings.append(
                Finding(
                    (device.node,),
                    f"{device.node} ({device.usb_id()} {device.name()}) has no serial number: "
                    f"enrol it by port path (`fabfleet {role} add NAME --device "
                    f"{device.node}` does) and keep it in the same USB port",
                )
            )
    for (kind, serial), found in shared.items():
        nodes = tuple(d.node for d in found)
        listed = " and ".join(nodes)
        findings.append(
            Finding(
                nodes,
                f"serial {serial} is shared by {listed}: udev cannot tell them apart by serial; "
                f"enrol each by port path (`--device` does) and keep each in its own USB port",
            )
        )
        for entry in _entries(fleet, kind):
            if entry.identity() == ("serial", serial):
                findings.append(
                    Finding(
                        nodes,
                        f"{_ROLE[kind]} '{entry.name}' is enrolled by serial {serial}, which "
                        f"{listed} share, so it could be given the wrong device: remove it and "
                        f"add it again with --device or --port-path",
                    )
                )
    kinds: tuple[DeviceKind, ...] = ("serial", "camera")
    for kind in kinds:
        present = [d for d in devices if d.kind == kind]
        for entry in _entries(fleet, kind):
            identity = entry.identity()
            if identity is None or identity[0] not in USB_IDENTITY_FIELDS:
                continue  # reached over the network or simulated: nothing to plug in
            if not any(_matches(entry, d) for d in present):
                findings.append(
                    Finding(
                        (),
                        f"{_ROLE[kind]} '{entry.name}' ({identity[0].replace('_', ' ')} "
                        f"{identity[1]}) is not plugged in",
                    )
                )
    return ScanReport(devices, enrolled, findings)
