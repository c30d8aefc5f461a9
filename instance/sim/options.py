"""What kind of printer the simulator pretends to be: firmware, buffers, link and timing."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

IDENTITIES = ("marlin2", "marlin1", "prusa", "rrf", "repetier", "klipper")
MOVE_TIMINGS = ("instant", "accelerated", "real")
CAPABILITY_REPORTS = ("full", "partial", "none")


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Everything that shapes the simulated printer; validated on construction.

    Times are seconds. ``latency`` delays every byte the printer emits (a USB
    serial adapter's latency); with ``latency_timer`` it works as an FTDI
    chip's latency timer instead: output waits for the next tick of a
    ``latency``-long timer, or goes at once when a 62-byte USB packet fills,
    so answers reach the host in bursts; ``baud`` paces bytes in both directions
    (``None``: no pacing). Durations of moves, homing, probing, dwells and
    heat-ups follow ``move_timing``: "real", "accelerated" (divided by
    ``time_factor``) or "instant" (zero). Keep-alives, temperature reports and
    autoreports use the unscaled clock: the host's timeouts are wall-clock too.

    ``ok_after_resend``: None follows the firmware profile; True or False forces
    whether an ``ok`` follows every resend request the printer makes, of every
    kind (checksum, line number, missing checksum, M999...). ``service_jitter``:
    a line error is noticed this long at most after the bad line's last byte
    arrived (drawn per error from the seeded RNG, uniform from 0); the drain of
    the receive buffer happens then (see docs/firmware-behaviour.md).
    """

    identity: str = "marlin2"
    command_buffer: int = 4
    rx_buffer: int = 128
    max_line: int = 96
    planner_size: int = 16
    advanced_ok: bool = True
    latency: float = 0.0
    latency_timer: bool = False
    baud: int | None = None
    move_timing: str = "instant"
    time_factor: float = 10.0
    acceleration: float = 500.0
    feed_rate: float = 1500.0
    home_seconds: float = 6.0
    probe_seconds: float = 25.0
    ambient: float = 22.0
    hotend_rate: float = 3.0
    bed_rate: float = 0.8
    chamber_rate: float = 0.1
    cooling_rate: float = 1.0
    temp_window: float = 2.0
    autoreport_temp: bool = True
    # Announces AUTOREPORT_TEMP and takes M155, but never sends a report.
    autoreport_silent: bool = False
    emergency_parser: bool = True
    capabilities_report: str = "full"
    extruders: int = 1
    keepalive_interval: float = 2.0
    ok_after_resend: bool | None = None
    service_jitter: float = 0.002
    seed: int = 0

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError("; ".join(problems))

    def scaled(self, seconds: float) -> float:
        """How long a physical action lasts under ``move_timing``."""
        if self.move_timing == "instant":
            return 0.0
        if self.move_timing == "accelerated":
            return seconds / self.time_factor
        return seconds

    @property
    def byte_time(self) -> float:
        """Seconds one byte occupies the wire (start + 8 data + stop bits)."""
        return 0.0 if self.baud is None else 10.0 / self.baud


def _problems(options: SimOptions) -> list[str]:
    problems: list[str] = []

    def choice(name: str, allowed: tuple[str, ...]) -> None:
        value = getattr(options, name)
        if value not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}, not {value!r}")

    def at_least(name: str, low: float, *, integer: bool = False) -> None:
        value = getattr(options, name)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            problems.append(f"{name} must be a number, not {value!r}")
        elif not math.isfinite(value) or value < low:
            problems.append(f"{name} must be at least {low}, not {value!r}")

    def positive(name: str) -> None:
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name} must be a number, not {value!r}")
        elif not math.isfinite(value) or value <= 0:
            problems.append(f"{name} must be greater than 0, not {value!r}")

    choice("identity", IDENTITIES)
    choice("move_timing", MOVE_TIMINGS)
    choice("capabilities_report", CAPABILITY_REPORTS)
    at_least("command_buffer", 1, integer=True)
    # A line must fit in the receive buffer, or no numbered line could ever arrive whole.
    at_least("rx_buffer", 16, integer=True)
    at_least("max_line", 16, integer=True)
    at_least("planner_size", 2, integer=True)
    at_least("extruders", 1, integer=True)
    at_least("latency", 0.0)
    at_least("ambient", -40.0)
    at_least("temp_window", 0.1)
    for name in (
        "time_factor",
        "acceleration",
        "feed_rate",
        "hotend_rate",
        "bed_rate",
        "chamber_rate",
        "cooling_rate",
        "keepalive_interval",
    ):
        positive(name)
    at_least("home_seconds", 0.0)
    at_least("service_jitter", 0.0)
    forced: object = options.ok_after_resend
    if forced is not None and not isinstance(forced, bool):
        problems.append(f"ok_after_resend must be true, false or unset, not {forced!r}")
    at_least("probe_seconds", 0.0)
    if options.baud is not None:
        at_least("baud", 300, integer=True)
    if isinstance(options.extruders, int) and options.extruders > 8:
        problems.append(f"extruders must be at most 8, not {options.extruders}")
    for name in ("advanced_ok", "autoreport_temp", "autoreport_silent", "emergency_parser"):
        if not isinstance(getattr(options, name), bool):
            problems.append(f"{name} must be true or false, not {getattr(options, name)!r}")
    if isinstance(options.seed, bool) or not isinstance(options.seed, int):
        problems.append(f"seed must be an integer, not {options.seed!r}")
    return problems


FIELD_NAMES = tuple(field.name for field in dataclasses.fields(SimOptions))
