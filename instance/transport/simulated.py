"""The in-process simulated printer as a transport (``sim://?identity=marlin2&latency=0.001``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from urllib.parse import parse_qsl, urlsplit

from instance.sim.options import SimOptions
from instance.sim.runner import InProcessLink
from instance.transport.base import ConnectionLost, DataReceived, Transport, TransportError


class SimulatedTransport(Transport):
    """Bytes to and from a SimulatedFirmware running in this event loop."""

    def __init__(self, link: InProcessLink, description: str = "sim://") -> None:
        self.link = link
        self.description = description
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, link: InProcessLink, description: str = "sim://") -> SimulatedTransport:
        try:
            await link.open()
        except ConnectionError as error:
            raise TransportError(f"{description}: {error}") from error
        return cls(link, description)

    def start(self, data_received: DataReceived, connection_lost: ConnectionLost) -> None:
        async def pump() -> None:
            while True:
                try:
                    data = await self.link.read()
                except ConnectionError as error:
                    connection_lost(str(error))
                    return
                data_received(data)

        self._pump = asyncio.create_task(pump(), name=f"{self.description} reader")

    def write(self, data: bytes) -> None:
        try:
            self.link.write(data)
        except ConnectionError as error:
            raise TransportError(f"{self.description}: {error}") from error

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        await self.link.close()


def options_from_url(url: str) -> SimOptions:
    """SimOptions from a ``sim://`` URL's query; unknown or bad values are refused."""
    fields = {field.name: field for field in dataclasses.fields(SimOptions)}
    values: dict[str, object] = {}
    for key, text in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        name = key.replace("-", "_")
        if name not in fields:
            raise TransportError(f"{url}: unknown simulator option {key!r}")
        default = getattr(SimOptions(), name)
        try:
            if isinstance(default, bool):
                values[name] = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int) or name == "baud":
                values[name] = int(text)
            elif isinstance(default, float):
                values[name] = float(text)
            else:
                values[name] = text
        except ValueError as error:
            raise TransportError(f"{url}: {key}={text!r} is not a valid value") from error
    try:
        return SimOptions(**values)  # type: ignore[arg-type]
    except ValueError as error:
        raise TransportError(f"{url}: {error}") from error


async def open_simulated(url: str) -> SimulatedTransport:
    return await SimulatedTransport.open(InProcessLink(options_from_url(url)), url)
