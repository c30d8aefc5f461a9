"""What every power driver offers the service."""

from __future__ import annotations

from typing import Protocol

from hub.power.state import PowerState


class PowerDriver(Protocol):
    async def state(self) -> PowerState:
        """The device's state now, read from the device (unknown with a reason on failure)."""
        ...

    async def switch(self, on: bool) -> PowerState:
        """Switch on or off; the state the device reports afterwards."""
        ...

    async def close(self) -> None:
        """Let go of connections and lines."""
        ...


def base_url(host: str) -> str:
    """``http://host[:port]`` for a device given as ``host`` or ``host:port`` (or a URL)."""
    if host.startswith(("http://", "https://")):
        return host.rstrip("/")
    return f"http://{host}"
