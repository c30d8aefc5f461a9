"""Open the right transport for a printer's port: a device path or a URL."""

from __future__ import annotations

from instance.transport.base import Transport, TransportError
from instance.transport.network import open_rfc2217, open_socket
from instance.transport.serial_device import open_serial_device

SCHEMES = ("socket://", "rfc2217://", "sim://")


def describe_port_problem(port: str) -> str | None:
    """Why ``port`` can never work (None when it may)."""
    if "://" in port:
        if not port.startswith(SCHEMES):
            scheme = port.split("://", 1)[0]
            return f"unknown port scheme {scheme!r}: use a device path, socket://, rfc2217://"
        return None
    if not port.startswith("/"):
        return f"{port!r} is neither a device path (/dev/...) nor a URL"
    return None


async def open_transport(port: str, baudrate: int, *, hupcl: bool = False) -> Transport:
    problem = describe_port_problem(port)
    if problem is not None:
        raise TransportError(problem)
    if port.startswith("socket://"):
        return await open_socket(port)
    if port.startswith("rfc2217://"):
        return await open_rfc2217(port, baudrate)
    if port.startswith("sim://"):
        from instance.transport.simulated import open_simulated

        return await open_simulated(port)
    return await open_serial_device(port, baudrate, hupcl=hupcl)
