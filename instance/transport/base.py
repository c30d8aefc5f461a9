"""The byte pipe every transport gives the printer link: bytes in by callback, bytes out."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable

DataReceived = Callable[[bytes], None]
ConnectionLost = Callable[[str], None]


class TransportError(ConnectionError):
    """The printer's port could not be opened, or broke while in use."""


class Transport(abc.ABC):
    """An open byte pipe to a printer.

    ``start`` hands every chunk read to ``data_received`` (called from the
    event loop, in order) and reports the end of the pipe once through
    ``connection_lost``.  ``write`` never blocks: the OS or the transport
    buffers what the printer has not taken yet.
    """

    description: str

    @abc.abstractmethod
    def start(self, data_received: DataReceived, connection_lost: ConnectionLost) -> None: ...

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def pause_reading(self) -> None:  # noqa: B027 - optional: not every pipe can pause
        """Stop reading for a moment (bytes wait in the OS); the default cannot."""

    def resume_reading(self) -> None:  # noqa: B027 - optional, as pause_reading
        """Read again after ``pause_reading``."""


class PipeProtocol(asyncio.Protocol):
    """Forwards an asyncio transport's bytes and its end to the link's callbacks."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._data_received: DataReceived | None = None
        self._connection_lost: ConnectionLost | None = None
        self._early: list[bytes] = []
        self._lost: str | None = None

    def bind(self, data_received: DataReceived, connection_lost: ConnectionLost) -> None:
        self._data_received = data_received
        self._connection_lost = connection_lost
        for chunk in self._early:
            data_received(chunk)
        self._early.clear()
        if self._lost is not None:
            connection_lost(self._lost)

    def data_received(self, data: bytes) -> None:
        if self._data_received is None:
            self._early.append(data)
        else:
            self._data_received(data)

    def eof_received(self) -> bool | None:
        self._report("the port closed")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._report("the port closed")
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._report(reason)

    def _report(self, reason: str) -> None:
        if self._lost is not None:
            return
        self._lost = reason
        if self._connection_lost is not None:
            self._connection_lost(reason)


class AsyncioTransport(Transport):
    """A transport over asyncio transports (sockets; a tty's read and write pipes)."""

    def __init__(
        self,
        protocol: PipeProtocol,
        writer: asyncio.WriteTransport,
        description: str,
        *,
        reader: asyncio.BaseTransport | None = None,
    ) -> None:
        self._protocol = protocol
        self._writer = writer
        self._reader = reader
        self.description = description

    def start(self, data_received: DataReceived, connection_lost: ConnectionLost) -> None:
        self._protocol.bind(data_received, connection_lost)

    def pause_reading(self) -> None:
        reader = self._reader if self._reader is not None else self._writer
        if isinstance(reader, asyncio.ReadTransport) and reader.is_reading():
            reader.pause_reading()

    def resume_reading(self) -> None:
        reader = self._reader if self._reader is not None else self._writer
        if isinstance(reader, asyncio.ReadTransport) and not reader.is_closing():
            reader.resume_reading()

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise TransportError(f"{self.description}: port is closed")
        self._writer.write(data)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._writer.close()
        # Let the transports release their file descriptors.
        await asyncio.sleep(0)
