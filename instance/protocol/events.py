"""What the protocol core tells its owner: the printer link's events."""

from __future__ import annotations

from dataclasses import dataclass, field

from instance.protocol.replies import FirmwareInfo


@dataclass(frozen=True, slots=True)
class Ready:
    """The handshake is done: line numbering is in step and M115 has answered."""

    firmware: FirmwareInfo | None
    capabilities: dict[str, bool] = field(default_factory=dict)

    def has(self, capability: str) -> bool:
        return self.capabilities.get(capability, False)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The firmware processed one of our commands (its ``ok`` arrived).

    ``tag`` is whatever the sender attached to the command (a job uses the
    file position); ``assumed`` is True when the ok itself was lost and the
    acknowledgement was inferred from a later answer.
    """

    command: str
    tag: object
    number: int | None
    assumed: bool = False


@dataclass(frozen=True, slots=True)
class Halted:
    """The firmware stopped itself (thermal runaway, kill(), M112 ...)."""

    message: str


@dataclass(frozen=True, slots=True)
class PrinterReset:
    """The board reset under us (a new ``start`` banner): anything running is lost."""


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The printer no longer answers, or the link broke beyond recovery.

    ``protocol`` is True when the port is fine but the conversation is not
    (the printer asks for lines we no longer have, keeps asking for one line,
    or stopped answering); False when the port itself went away.
    """

    reason: str
    protocol: bool = False


@dataclass(frozen=True, slots=True)
class ResendDone:
    """We resent lines from ``line`` on at the firmware's request (for the log and stats)."""

    line: int
    count: int


@dataclass(frozen=True, slots=True)
class TailExecuted:
    """The firmware ran or refused a line we never sent: the tail of a line its drain cut.

    ``text`` is the firmware's own words for it when it refused it
    (``Unknown command: "3 Y118.825 E0.615*62"``), None when it only said
    ``ok`` (it ran a command: one of ``candidates``, the commands of the
    lines that were on the wire when the drain fell). ``after_line`` is the
    line the firmware asked for again.
    """

    text: str | None
    after_line: int
    candidates: tuple[str, ...]

    @property
    def executed(self) -> bool:
        """True when the firmware ran it as a command (it did not refuse it)."""
        return self.text is None


@dataclass(frozen=True, slots=True)
class Stalled:
    """No line was acknowledged for longer than the commands in flight can explain.

    The link has already tried to resynchronise once; it now starts over with
    a new handshake, and whatever was running must be failed with ``reason``.
    """

    reason: str
