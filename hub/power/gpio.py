"""A relay on a GPIO line of the hub's own host (a Raspberry Pi), with libgpiod's v1 Python
API as Debian bookworm ships it (``python3-libgpiod`` 1.6): ``gpiod.Chip(name)``,
``chip.get_line(n)``, ``line.request(consumer=…, type=LINE_REQ_DIR_OUT, flags=…,
default_vals=[…])``, ``line.set_value``, ``line.get_value``, ``line.release``.

A line keeps its value only while it is held, so the hub holds it from its first switch
until it stops; before that the state is unknown (the hub never requests the line just to
look: requesting it as an output would set it). ``gpiod`` is imported only when a GPIO
device is used; without it the state is "unknown: libgpiod not installed".
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown

CONSUMER = "fabfleet"


def load_gpiod() -> ModuleType | None:
    try:
        return importlib.import_module("gpiod")
    except ImportError:
        return None


class Gpio:
    def __init__(self, spec: PowerSpec, gpiod: ModuleType | None = None) -> None:
        self.spec = spec
        self.gpiod = gpiod if gpiod is not None else load_gpiod()
        self.line: Any = None
        self.chip: Any = None
        self.where = f"{spec.chip} line {spec.line}"

    def _missing(self) -> PowerState | None:
        if self.gpiod is None:
            return unknown("libgpiod not installed (apt install python3-libgpiod)")
        if not hasattr(self.gpiod, "LINE_REQ_DIR_OUT"):
            return unknown("the installed gpiod is not libgpiod's v1 API (python3-libgpiod 1.6)")
        return None

    async def state(self) -> PowerState:
        missing = self._missing()
        if missing is not None:
            return missing
        if self.line is None:
            return unknown(f"{self.where} has not been switched since the hub started")
        try:
            value = await asyncio.to_thread(self.line.get_value)
        except OSError as error:
            return unknown(f"{self.where} cannot be read: {error}")
        return known(bool(value), f"{self.where} is {'active' if value else 'inactive'}")

    def _hold(self, on: bool) -> None:
        gpiod = self.gpiod
        assert gpiod is not None
        if self.line is None:
            chip = gpiod.Chip(self.spec.chip)
            line = chip.get_line(self.spec.line)
            flags = gpiod.LINE_REQ_FLAG_ACTIVE_LOW if self.spec.active_low else 0
            line.request(
                consumer=CONSUMER, type=gpiod.LINE_REQ_DIR_OUT, flags=flags, default_vals=[int(on)]
            )
            self.chip, self.line = chip, line
        self.line.set_value(int(on))

    async def switch(self, on: bool) -> PowerState:
        missing = self._missing()
        if missing is not None:
            return missing
        try:
            await asyncio.to_thread(self._hold, on)
        except OSError as error:
            return unknown(f"{self.where} cannot be set: {error}")
        return await self.state()

    async def close(self) -> None:
        if self.line is not None:
            self.line.release()
            self.line = None
        if self.chip is not None:
            self.chip.close()
            self.chip = None
