"""What a printer says: one typed value per kind of firmware line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Ok:
    """An acknowledgement: the firmware has processed one command.

    ``line``, ``planner_free`` and ``buffer_free`` come from ADVANCED_OK
    (``ok N12 P15 B3``); ``data`` is anything else on the ok line.
    """

    line: int | None = None
    planner_free: int | None = None
    buffer_free: int | None = None
    data: str = ""


@dataclass(frozen=True, slots=True)
class ResendRequest:
    """The firmware asks for every line from ``line`` on again."""

    line: int


@dataclass(frozen=True, slots=True)
class LineError:
    """A non-fatal error about a line (checksum, line number, unknown ...).

    ``last_line`` is the ``Last Line:`` the firmware reported, if any.
    """

    message: str
    last_line: int | None = None


@dataclass(frozen=True, slots=True)
class FatalError:
    """The firmware stopped itself: thermal runaway, MAXTEMP, kill() ...

    ``complete`` is False when a second line is expected to finish the
    message (``Error:Thermal Runaway, system stopped! Heater_ID: 0`` is
    followed by ``Error:Printer halted. kill() called!``).
    """

    message: str
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Busy:
    """A keep-alive during a long command (``busy: processing``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """``wait``: the firmware's command buffer is idle and wants input."""


@dataclass(frozen=True, slots=True)
class Start:
    """The ``start`` banner: the board has just reset."""


@dataclass(frozen=True, slots=True)
class FirmwareInfo:
    """The ``FIRMWARE_NAME:...`` line of an M115 report."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Capability:
    """One ``Cap:NAME:0|1`` line of an M115 report."""

    name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class Heater:
    """One heater or sensor: actual and target in degrees C, power 0..127 or None."""

    actual: float
    target: float | None = None
    power: int | None = None


@dataclass(frozen=True, slots=True)
class TemperatureReport:
    """A temperature line.

    Keys of ``heaters`` are the firmware's names, normalised: ``T0`` ``T1``
    for tools (a bare ``T:`` of a single-tool printer is ``T0``), ``B`` bed,
    ``C`` chamber, and any other sensor under its own letter (``P``, ``A``).
    ``wait_remaining`` is the ``W:`` countdown in seconds during heat-up
    (None when absent or ``W:?``).
    """

    heaters: dict[str, Heater]
    wait_remaining: float | None = None


@dataclass(frozen=True, slots=True)
class PositionReport:
    """An M114 report: the logical position of each axis (X Y Z E ...)."""

    axes: dict[str, float]


@dataclass(frozen=True, slots=True)
class ActionCommand:
    """A host action command: ``//action:pause`` or ``// action:prompt_begin Text``."""

    action: str
    argument: str = ""


@dataclass(frozen=True, slots=True)
class Echo:
    """An ``echo:`` line (settings, ``Unknown command``, ...)."""

    text: str
    unknown_command: str | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """Any line that none of the above describes, kept for the terminal log."""

    text: str


Reply = (
    Ok
    | ResendRequest
    | LineError
    | FatalError
    | Busy
    | Wait
    | Start
    | FirmwareInfo
    | Capability
    | TemperatureReport
    | PositionReport
    | ActionCommand
    | Echo
    | Other
)
