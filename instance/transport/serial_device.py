"""A printer on a serial device (USB CDC, FTDI, CH340, a pty): exclusive, any baud rate."""

from __future__ import annotations

import asyncio
import os
import termios

import serial

from instance.transport.base import AsyncioTransport, PipeProtocol, TransportError


async def open_serial_device(
    path: str, baudrate: int, *, hupcl: bool = False, dtr: bool | None = None
) -> AsyncioTransport:
    """Open ``path`` for this process alone.

    ``hupcl=False`` (the default) keeps DTR raised when the port closes, so
    the next open does not pulse DTR and reset boards wired to reset on it;
    ``dtr`` forces DTR low/high right after opening (None: leave the kernel's
    choice).
    """
    port = serial.Serial()
    port.port = path
    port.baudrate = baudrate
    port.exclusive = True
    port.timeout = 0
    if dtr is not None:
        port.dtr = dtr
    try:
        port.open()
    except (serial.SerialException, OSError, ValueError) as error:
        raise TransportError(f"cannot open {path}: {error}") from error
    descriptor = port.fileno()
    try:
        attributes = termios.tcgetattr(descriptor)
        if hupcl:
            attributes[2] |= termios.HUPCL
        else:
            attributes[2] &= ~termios.HUPCL
        termios.tcsetattr(descriptor, termios.TCSANOW, attributes)
        read_fd = os.dup(descriptor)
        write_fd = os.dup(descriptor)
    except (termios.error, OSError) as error:
        port.close()
        raise TransportError(f"cannot configure {path}: {error}") from error
    # The duplicates keep the port (and its exclusive lock) open; pyserial's own
    # handle is no longer needed.
    port.close()
    loop = asyncio.get_running_loop()
    protocol = PipeProtocol(path)
    reader = writer = None
    try:
        reader, _ = await loop.connect_read_pipe(lambda: protocol, os.fdopen(read_fd, "rb", 0))
        writer, _ = await loop.connect_write_pipe(
            lambda: PipeProtocol(path), os.fdopen(write_fd, "wb", 0)
        )
    except OSError as error:
        if reader is not None:
            reader.close()
        raise TransportError(f"cannot watch {path}: {error}") from error
    return AsyncioTransport(protocol, writer, path, reader=reader)
