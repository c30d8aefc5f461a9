"""Printers reached over the network: ``socket://host:port`` (ser2net, ESP3D) and ``rfc2217://``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit

import serial

from instance.transport.base import StreamTransport, Transport, TransportError


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


async def open_socket(url: str, *, connect_timeout: float = 5.0) -> StreamTransport:
    host, port = split_host_port(url)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 20), connect_timeout
        )
    except (OSError, TimeoutError) as error:
        raise TransportError(f"cannot connect to {host}:{port}: {error}") from error
    return StreamTransport(reader, writer, url)


class Rfc2217Transport(Transport):
    """RFC 2217 through pyserial's client, whose blocking reads run in one thread."""

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self._port = port
        self.description = url
        self._loop = asyncio.get_running_loop()
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"rfc2217 {url}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._port.read(4096)
            except (serial.SerialException, OSError):
                data = b""
                self._closed.set()
            if data or self._closed.is_set():
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._incoming.put_nowait, data)
            if not data and self._closed.is_set():
                return

    async def read(self) -> bytes:
        return await self._incoming.get()

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as error:
            raise TransportError(f"{self.description}: {error}") from error

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        self._closed.set()
        await asyncio.to_thread(self._port.close)


async def open_rfc2217(url: str, baudrate: int) -> Rfc2217Transport:
    split_host_port(url)

    def connect() -> serial.SerialBase:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)

    try:
        port = await asyncio.to_thread(connect)
    except (serial.SerialException, OSError, ValueError) as error:
        raise TransportError(f"cannot connect to {url}: {error}") from error
    return Rfc2217Transport(port, url)
