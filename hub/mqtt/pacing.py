"""When each printer's state goes out to the broker; no I/O.

A change of state, file, targets or bed goes out at once (after ``SETTLE`` seconds, so a
burst of events is one message); a change of temperatures, progress or time left alone at
most once every ``INTERVAL`` seconds per printer, carrying the newest values. A payload equal
to the last one sent is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.mqtt.topics import URGENT

INTERVAL = 1.0
SETTLE = 0.02


@dataclass(slots=True)
class Pacer:
    interval: float = INTERVAL
    settle: float = SETTLE
    # The last payload sent per printer, and when.
    sent: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    # The newest payload not yet sent per printer, and when it is due.
    pending: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)

    def offer(self, name: str, payload: dict[str, Any], now: float) -> None:
        last = self.sent.get(name)
        if last is not None and last[0] == payload:
            self.pending.pop(name, None)
            return
        if last is None or any(last[0].get(k) != payload.get(k) for k in URGENT):
            due = now + self.settle
        else:
            due = max(now, last[1] + self.interval)
        waiting = self.pending.get(name)
        if waiting is not None:
            due = min(due, waiting[1])
        self.pending[name] = (payload, due)

    def due(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        """The payloads due now, taken off the pending list and counted as sent."""
        ready = [(n, p) for n, (p, at) in self.pending.items() if at <= now]
        for name, payload in ready:
            del self.pending[name]
            self.sent[name] = (payload, now)
        return ready

    def next_due(self) -> float | None:
        return min((at for _p, at in self.pending.values()), default=None)

    def forget(self, name: str) -> None:
        self.sent.pop(name, None)
        self.pending.pop(name, None)

    def resend_all(self) -> None:
        """After a reconnect: everything counts as never sent."""
        self.sent.clear()
