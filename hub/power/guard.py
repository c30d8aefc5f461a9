"""May this printer be switched off now? Pure: everything it looks at is given.

The rules come from the mishaps of the OctoPrint PSU Control plugin (docs/power.md,
docs/research/farm-operations.md §8): a printer was switched off mid-print because its
link had dropped and its last temperatures were stale (#212); another waited for hours on a
heater reading that never changed (#31, #27) or switched off while the bed was heating with
nothing printing (#105). So the guard refuses while the printer is busy, heating (any
target set) or hot, while its reading is stale or its print server does not answer, and
while the device's own state is unknown; after a job it waits ``idle_minutes`` first, and
after ``give_up_minutes`` of waiting it stops waiting and says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.power.spec import PowerSettings
from hub.power.state import PowerView

BUSY = frozenset({"printing", "pausing", "paused", "cancelling"})
# A reading older than this (seconds) says nothing about the printer now.
STALE_AFTER = 10.0
# The print server answers but has no printer behind it.
NOT_CONNECTED = frozenset({"offline", "connecting"})


@dataclass(frozen=True, slots=True)
class Heater:
    actual: float | None
    target: float | None


@dataclass(frozen=True, slots=True)
class Reading:
    """The printer as its print server last reported it."""

    # The print server answered (False: unreachable).
    online: bool
    state: str
    heaters: Mapping[str, Heater]
    # Seconds since the reading.
    age: float


@dataclass(frozen=True, slots=True)
class Decision:
    """``allow``: switch off now. ``sentence``: what the user is shown either way.
    ``gave_up``: the wait after a job passed ``give_up_minutes``; nothing will be switched."""

    allow: bool
    sentence: str
    gave_up: bool = False


def _degrees(value: float) -> str:
    return f"{value:.0f} °C"


def heater_name(name: str) -> str:
    """The print server's heater keys (T, T0, T1, B, C) as a person says them."""
    if name == "B":
        return "bed"
    if name == "C":
        return "chamber"
    if name in ("T", "T0"):
        return "hotend"
    if name.startswith("T"):
        return f"hotend {name}"
    return name


def blocker(reading: Reading, device: PowerView, settings: PowerSettings) -> str | None:
    """Why the printer may not be switched off now (None: nothing stands in the way)."""
    if not device.known:
        return f"the power device's state is unknown ({device.reason})"
    if not reading.online or reading.state == "unreachable":
        return "the print server does not answer, so the printer's temperatures are unknown"
    if reading.state in BUSY:
        return f"the printer is {reading.state}"
    if reading.age > STALE_AFTER:
        return f"the last reading is {reading.age:.0f} s old"
    if reading.state in NOT_CONNECTED or not reading.heaters:
        return "the printer is not connected to its print server, so its temperatures are unknown"
    for name, heater in sorted(reading.heaters.items()):
        if heater.target is not None and heater.target > 0:
            return f"{heater_name(name)} heating to {_degrees(heater.target)}"
    for name, heater in sorted(reading.heaters.items()):
        if name == "C":
            continue  # a warm chamber is no reason to keep the power on
        limit = settings.bed_off_below if name == "B" else settings.hotend_off_below
        if heater.actual is None:
            return f"{heater_name(name)} has no reading"
        if heater.actual >= limit:
            return f"{heater_name(name)} {_degrees(heater.actual)}, off below {_degrees(limit)}"
    return None


def may_switch_off(reading: Reading, device: PowerView, settings: PowerSettings) -> Decision:
    """A person asks to switch off now (no idle wait, no give-up)."""
    if device.known and device.on is False:
        return Decision(False, "already off")
    reason = blocker(reading, device, settings)
    if reason is not None:
        return Decision(False, f"not now: {reason}")
    return Decision(True, "may be switched off: idle and cooled")


def auto_off(
    reading: Reading,
    device: PowerView,
    settings: PowerSettings,
    idle_since: float | None,
    now: float,
) -> Decision:
    """After a job: switch off once idle ``idle_minutes`` and cooled; give up after
    ``give_up_minutes`` of waiting. ``idle_since``: when the printer's last job ended
    (None: no job ended since the hub started watching, so nothing to do)."""
    if device.known and device.on is False:
        return Decision(False, "off")
    if idle_since is None:
        if not device.known:
            return Decision(False, f"power state unknown: {device.reason}")
        return Decision(False, "on; switches off after the next job once cooled")
    waited = max(0.0, now - idle_since)
    reason = blocker(reading, device, settings)
    if reading.online and reading.state in BUSY:
        return Decision(False, f"on: {reason}")
    if waited >= settings.give_up_minutes * 60:
        if reason is None and waited >= settings.idle_minutes * 60:
            return Decision(True, "switching off: idle and cooled")
        return Decision(
            False,
            f"gave up after {settings.give_up_minutes:g} min: {reason}; switch it off by hand",
            gave_up=True,
        )
    if reason is not None:
        return Decision(False, f"waiting: {reason}")
    idle_left = settings.idle_minutes * 60 - waited
    if idle_left > 0:
        return Decision(
            False,
            f"waiting: idle for {waited / 60:.0f} min, off after {settings.idle_minutes:g} min",
        )
    return Decision(True, "switching off: idle and cooled")
