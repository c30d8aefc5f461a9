"""The fleet's live state as the hub sees it: one :class:`PrinterLive` per printer.

Filled by ``hub/fleet/watch.py`` (one watcher per print server, on its events
WebSocket); read by the dashboard, the fleet queue and notifications, which
subscribe to changes instead of polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The print server's states (instance PrinterState values), plus the hub's own
# "unreachable" when the print server does not answer.
UNREACHABLE = "unreachable"
READY = "ready"
BED_NOT_CLEARED = "bed not cleared"
BUSY = frozenset({"printing", "pausing", "paused", "cancelling"})


@dataclass(slots=True)
class PrinterLive:
    name: str
    state: str = UNREACHABLE
    # The print server answers (its printer may still be offline).
    online: bool = False
    # The print server's whole GET /api/v1/printer (the `state` event), {} when unreachable.
    status: dict[str, Any] = field(default_factory=dict)
    updated: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        """Idle, connected and with a clear bed: it may take a job."""
        return self.online and self.state == READY and bool(self.status.get("bed_clear", True))

    @property
    def heating(self) -> bool:
        """Printing but some heater still more than 3 °C below a set target."""
        if self.state not in BUSY:
            return False
        heaters = self.status.get("heaters") or {}
        for heater in heaters.values():
            target = heater.get("target") or 0
            actual = heater.get("actual") or 0
            if target > 0 and actual < target - 3:
                return True
        return False


Listener = Callable[[PrinterLive], None]


class FleetLive:
    """Every printer's :class:`PrinterLive`, and who to tell when one changes."""

    def __init__(self) -> None:
        self.printers: dict[str, PrinterLive] = {}
        self._listeners: list[Listener] = []

    def get(self, name: str) -> PrinterLive:
        live = self.printers.get(name)
        if live is None:
            live = self.printers[name] = PrinterLive(name)
        return live

    def update(self, live: PrinterLive) -> None:
        live.updated = time.time()
        self.printers[live.name] = live
        for listener in list(self._listeners):
            listener(live)

    def forget(self, name: str) -> None:
        self.printers.pop(name, None)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
