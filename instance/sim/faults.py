"""The misbehaviours a simulated printer can show, each with parameters and a trigger."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ParamValue = bool | int | float | str
FaultKind = Literal["line", "event", "mode"]


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a fault: its type, default and (for text) allowed values."""

    kind: type[bool] | type[int] | type[float] | type[str]
    default: ParamValue
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What a fault does.

    ``line`` faults act on the numbered line that fires the trigger; ``event``
    faults happen once per firing; ``mode`` faults change behaviour from the
    first firing on (with no trigger: from power-on).
    """

    kind: FaultKind
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)
    default_trigger: Mapping[str, float] = field(default_factory=dict)


FATAL_KINDS = ("thermal_runaway", "maxtemp", "mintemp", "heating_failed", "repetier")
ACTIONS = ("pause", "resume", "cancel", "paused", "resumed", "disconnect", "prompt")
TEMPERATURE_STYLES = ("marlin2", "marlin1", "prusa", "rrf", "repetier", "spaced")

FAULTS: dict[str, FaultSpec] = {
    "drop_line": FaultSpec("line", "the line is lost on the wire; the next one's number jumps"),
    "corrupt_line": FaultSpec("line", "one byte of the line is flipped: checksum mismatch"),
    "random_resend": FaultSpec(
        "line",
        "a share of lines arrive corrupted (default 5 %): checksum mismatch and resend",
        default_trigger={"probability": 0.05},
    ),
    "double_resend": FaultSpec(
        "line", "one corrupted line draws two resend requests (checksum, then line number)"
    ),
    "resend_without_ok": FaultSpec("line", "the line is rejected and the resend has no ok"),
    "resend_old": FaultSpec(
        "line",
        "the line is rejected and the printer asks for a line long gone from any history",
        {"back": Param(int, 1000)},
    ),
    "resend_unsent": FaultSpec(
        "line", "after the line's ok the printer asks for the next line, not yet sent"
    ),
    "endless_resend": FaultSpec(
        "line",
        "this line number is rejected every time it arrives (times=0: forever)",
        {"times": Param(int, 0)},
    ),
    "lost_ok": FaultSpec("line", "the line is executed but its ok never comes"),
    "extra_ok": FaultSpec("line", "the line's ok is followed by a second, unearned ok"),
    "long_command": FaultSpec(
        "line",
        "the line's command holds the queue for a while before its ok",
        {"seconds": Param(float, 30.0), "keepalive": Param(bool, True)},
    ),
    "silence": FaultSpec(
        "event",
        "the printer hangs: reads and answers nothing (seconds=0: forever)",
        {"seconds": Param(float, 0.0)},
    ),
    "write_stall": FaultSpec(
        "event",
        "the printer stops taking bytes; the host's writes block",
        {"seconds": Param(float, 5.0)},
    ),
    "reset": FaultSpec("event", "the board resets: new start banner, counters and queues emptied"),
    "fatal_error": FaultSpec(
        "event",
        "a two-line fatal error, then the printer halts",
        {"kind": Param(str, "thermal_runaway", FATAL_KINDS)},
    ),
    "unplug": FaultSpec(
        "event",
        "the USB cable is pulled; the device comes back (as a fresh board) after a while",
        {"seconds": Param(float, 2.0)},
    ),
    "emit": FaultSpec(
        "event", "an arbitrary line from the printer", {"text": Param(str, "echo:hello")}
    ),
    "unsolicited": FaultSpec(
        "event",
        "a typical unsolicited line: temperature autoreport, echo, or action command",
        {"what": Param(str, "autoreport", ("autoreport", "echo", "action"))},
    ),
    "action": FaultSpec(
        "event",
        "a host action command, //action:ACTION (spaced: // action:ACTION)",
        {"action": Param(str, "pause", ACTIONS), "spaced": Param(bool, False)},
    ),
    "garbage": FaultSpec(
        "event",
        "line noise: NUL bytes, bytes that are not UTF-8, or printable junk",
        {"what": Param(str, "binary", ("nul", "binary", "noise")), "length": Param(int, 16)},
    ),
    "long_line": FaultSpec(
        "event", "an over-long line from the printer", {"length": Param(int, 400)}
    ),
    "resend_format": FaultSpec(
        "mode",
        "resend requests use another form",
        {"form": Param(str, "rs", ("marlin", "nospace", "rs", "teacup"))},
    ),
    "ok_variant": FaultSpec(
        "mode",
        "oks take another form: ok / ok N12 P15 B3 / ok N:12 / ok 12 / ok T:...",
        {"style": Param(str, "plain", ("plain", "advanced", "colon", "number", "temperature"))},
    ),
    "ok_before_output": FaultSpec("mode", "a command's ok comes before its output, not after"),
    "temperature_format": FaultSpec(
        "mode",
        "temperatures use another format",
        {"style": Param(str, "spaced", TEMPERATURE_STYLES)},
    ),
    "wait_idle": FaultSpec(
        "mode", "the printer prints 'wait' while idle", {"interval": Param(float, 1.0)}
    ),
    "crlf": FaultSpec("mode", "lines end in CR LF"),
    "split_writes": FaultSpec(
        "mode",
        "each line reaches the host in two pieces, gap seconds apart",
        {"gap": Param(float, 0.005)},
    ),
    "slow_planner": FaultSpec(
        "mode", "each move's ok comes late (delay seconds)", {"delay": Param(float, 0.2)}
    ),
    "reset_on_open": FaultSpec(
        "mode",
        "after each reset a bootloader runs and swallows what the host sends",
        {"boot_seconds": Param(float, 1.0)},
    ),
}

TRIGGER_KEYS = ("at_line", "at_time", "every", "probability", "limit")


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a fault fires.

    ``at_line``: the k-th numbered line received (resent lines count again);
    ``every``: every n-th numbered line; ``probability``: each numbered line,
    from the seeded RNG; ``at_time``: at that many seconds after power-on (a
    line fault then hits the next numbered line). ``limit`` caps how often it
    fires. No trigger at all is allowed only for mode faults: on from the start.
    """

    at_line: int | None = None
    at_time: float | None = None
    every: int | None = None
    probability: float | None = None
    limit: int | None = None

    @property
    def empty(self) -> bool:
        return (
            self.at_line is None
            and self.at_time is None
            and self.every is None
            and self.probability is None
        )


@dataclass(frozen=True, slots=True)
class Fault:
    """One configured fault."""

    name: str
    params: Mapping[str, ParamValue]
    trigger: Trigger

    @property
    def spec(self) -> FaultSpec:
        return FAULTS[self.name]

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.params.items()]
        for key in TRIGGER_KEYS:
            value = getattr(self.trigger, key)
            if value is not None:
                parts.append(f"{key}={value}")
        return self.name + (":" + ",".join(parts) if parts else "")


def _coerce(kind: type, value: object, what: str) -> ParamValue:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"{what} must be true or false, not {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"{what} must be an integer, not {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{what} must be a number, not {value!r}")
    if isinstance(value, str):
        return value
    raise ValueError(f"{what} must be text, not {value!r}")


def make_fault(name: str, values: Mapping[str, object], source: str = "fault") -> Fault:
    """A validated Fault from a TOML table or ``key=value`` text; a ValueError names the key."""
    spec = FAULTS.get(name)
    if spec is None:
        raise ValueError(f"{source}: unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    params: dict[str, ParamValue] = {}
    trigger_values: dict[str, float | int] = dict(spec.default_trigger)
    for key, raw in values.items():
        what = f"{source}: {name}.{key}"
        if key in ("at_line", "every", "limit"):
            number = _coerce(int, raw, what)
            assert isinstance(number, int)
            if number < 1:
                raise ValueError(f"{what} must be at least 1, not {number}")
            trigger_values[key] = number
        elif key in ("at_time", "probability"):
            number = _coerce(float, raw, what)
            assert isinstance(number, float)
            if key == "probability" and not 0.0 <= number <= 1.0:
                raise ValueError(f"{what} must be between 0 and 1, not {number}")
            if key == "at_time" and number < 0:
                raise ValueError(f"{what} must not be negative, not {number}")
            trigger_values[key] = number
        elif key in spec.params:
            param = spec.params[key]
            value = _coerce(param.kind, raw, what)
            if param.choices and value not in param.choices:
                raise ValueError(f"{what} must be one of {', '.join(param.choices)}, not {value!r}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{what} must not be negative, not {value}")
            params[key] = value
        else:
            allowed = sorted([*spec.params, *TRIGGER_KEYS])
            raise ValueError(
                f"{source}: unknown key {key!r} for fault {name}; allowed: {', '.join(allowed)}"
            )
    for key, param in spec.params.items():
        params.setdefault(key, param.default)
    chosen = [k for k in ("at_line", "at_time", "every", "probability") if k in trigger_values]
    if len(chosen) > 1:
        # A default trigger gives way to an explicit one.
        explicit = [k for k in chosen if k in values]
        if len(explicit) > 1:
            raise ValueError(
                f"{source}: {name} takes one trigger of at_line, at_time, every, probability"
            )
        for key in chosen:
            if key not in explicit:
                del trigger_values[key]
    trigger = Trigger(
        at_line=_opt_int(trigger_values.get("at_line")),
        at_time=_opt_float(trigger_values.get("at_time")),
        every=_opt_int(trigger_values.get("every")),
        probability=_opt_float(trigger_values.get("probability")),
        limit=_opt_int(trigger_values.get("limit")),
    )
    if trigger.empty and spec.kind != "mode":
        raise ValueError(
            f"{source}: {name} needs a trigger (at_line, at_time, every or probability)"
        )
    return Fault(name, params, trigger)


def _opt_int(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def parse_fault(text: str) -> Fault:
    """``NAME[:key=value,...]`` as given on the command line."""
    name, _, rest = text.partition(":")
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--fault {text}: expected key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return make_fault(name.strip(), values, source=f"--fault {text}")


class FaultSchedule:
    """Decides, line by line and moment by moment, which faults fire."""

    def __init__(self, faults: tuple[Fault, ...] | list[Fault], seed: int) -> None:
        self._faults = list(faults)
        self._fired = [0] * len(self._faults)
        self._time_done = [False] * len(self._faults)
        self._armed = [False] * len(self._faults)  # line faults waiting for the next line
        self._rng = random.Random(seed)
        self.active_modes: dict[str, Fault] = {
            f.name: f for f in self._faults if f.spec.kind == "mode" and f.trigger.empty
        }

    @property
    def rng(self) -> random.Random:
        return self._rng

    def _may_fire(self, index: int) -> bool:
        limit = self._faults[index].trigger.limit
        return limit is None or self._fired[index] < limit

    def next_time(self) -> float | None:
        times = [
            f.trigger.at_time
            for i, f in enumerate(self._faults)
            if f.trigger.at_time is not None and not self._time_done[i]
        ]
        return min(times) if times else None

    def fire_due(self, now: float) -> list[Fault]:
        """Event faults due by ``now`` (mode faults are switched on, line faults armed)."""
        due: list[Fault] = []
        for i, fault in enumerate(self._faults):
            at = fault.trigger.at_time
            if at is None or self._time_done[i] or at > now:
                continue
            self._time_done[i] = True
            if fault.spec.kind == "line":
                self._armed[i] = True
            elif fault.spec.kind == "mode":
                self._fired[i] += 1
                self.active_modes[fault.name] = fault
            else:
                self._fired[i] += 1
                due.append(fault)
        return due

    def on_numbered_line(self, count: int) -> list[Fault]:
        """Faults fired by the ``count``-th numbered line received."""
        fired: list[Fault] = []
        for i, fault in enumerate(self._faults):
            trig = fault.trigger
            hit = False
            if self._armed[i]:
                self._armed[i] = False
                hit = True
            elif trig.at_line is not None:
                hit = trig.at_line == count
            elif trig.every is not None:
                hit = count % trig.every == 0
            elif trig.probability is not None:
                hit = self._rng.random() < trig.probability
            if not hit or not self._may_fire(i):
                continue
            self._fired[i] += 1
            if fault.spec.kind == "mode":
                self.active_modes[fault.name] = fault
            else:
                fired.append(fault)
        return fired
