"""Printers reached over the network: ``socket://host:port`` (ser2net, ESP3D) and ``rfc2217://``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit

import serial

from instance.transport.base import (
    AsyncioTransport,
    ConnectionLost,
    DataReceived,
    PipeProtocol,
    Transport,
    TransportError,
)


def split_host_port(url: str) -> tuple[str, int]:
    """``socket://host:port`` → (host, port), with a clear error for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise TransportError(f"{url}: the port must be a number from 1 to 65535") from error
    if not parts.hostname or port is None or port == 0:
        raise TransportError(f"{url}: expected {parts.scheme}://HOST:PORT")
    return parts.hostname, port


async def open_socket(url: str, *, connect_timeout: float = 5.0) -> AsyncioTransport:
    host, port = split_host_port(url)
    loop = asyncio.get_running_loop()
    protocol = PipeProtocol(url)
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: protocol, host, port), connect_timeout
        )
    except (OSError, TimeoutError) as error:
        raise TransportError(f"cannot connect to {host}:{port}: {error}") from error
    return AsyncioTransport(protocol, transport, url)


class Rfc2217Transport(Transport):
    """RFC 2217 through pyserial's client, whose blocking reads run in one thread."""

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self._port = port
        self.description = url
        self._loop = asyncio.get_running_loop()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, data_received: DataReceived, connection_lost: ConnectionLost) -> None:
        def pump() -> None:
            while not self._closed.is_set():
                try:
                    data = self._port.read(4096)
                except (serial.SerialException, OSError) as error:
                    if not self._closed.is_set():
                        self._closed.set()
                        with contextlib.suppress(RuntimeError):
                            self._loop.call_soon_threadsafe(connection_lost, str(error))
                    return
                if data:
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(data_received, data)

        self._thread = threading.Thread(target=pump, name=f"rfc2217 {self.description}")
        self._thread.daemon = True
        self._thread.start()

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as error:
            raise TransportError(f"{self.description}: {error}") from error

    async def close(self) -> None:
        self._closed.set()
        await asyncio.to_thread(self._port.close)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)


async def open_rfc2217(url: str, baudrate: int) -> Rfc2217Transport:
    split_host_port(url)

    def connect() -> serial.SerialBase:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)

    try:
        port = await asyncio.to_thread(connect)
    except (serial.SerialException, OSError, ValueError) as error:
        raise TransportError(f"cannot connect to {url}: {error}") from error
    return Rfc2217Transport(port, url)
