"""The byte pipe every transport gives the printer link: a stream reader and writer."""

from __future__ import annotations

import abc
import asyncio
import contextlib


class TransportError(ConnectionError):
    """The printer's port could not be opened, or broke while in use."""


class Transport(abc.ABC):
    """An open byte pipe to a printer.

    ``read`` returns at least one byte, or b"" when the other end went away;
    ``write`` queues bytes in order; ``drain`` waits until the OS took them.
    """

    description: str

    @abc.abstractmethod
    async def read(self) -> bytes: ...

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def drain(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class StreamTransport(Transport):
    """A transport over an asyncio stream pair (sockets, tty file descriptors)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        description: str,
        *,
        read_transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.description = description
        # A tty is watched through two pipe transports; sockets need only the writer's.
        self._read_transport = read_transport

    async def read(self) -> bytes:
        try:
            return await self._reader.read(65536)
        except OSError as error:
            raise TransportError(f"{self.description}: {error.strerror or error}") from error

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise TransportError(f"{self.description}: port is closed")
        self._writer.write(data)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except OSError as error:
            raise TransportError(f"{self.description}: {error.strerror or error}") from error

    async def close(self) -> None:
        if self._read_transport is not None:
            self._read_transport.close()
        self._writer.close()
        # An unplugged device cannot be flushed: it is going away anyway.
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
