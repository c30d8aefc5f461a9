"""What a power device answered: on, off, or unknown with the reason."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class PowerError(Exception):
    """A power device could not do what was asked; the message is one sentence for the user."""


@dataclass(frozen=True, slots=True)
class PowerState:
    """``on`` is None when the device's answer did not say (``reason`` says why); never a
    guessed "off"."""

    on: bool | None
    reason: str = ""
    checked_at: float = field(default_factory=time.time)

    @property
    def known(self) -> bool:
        return self.on is not None

    @property
    def word(self) -> str:
        return "unknown" if self.on is None else ("on" if self.on else "off")


def unknown(reason: str) -> PowerState:
    return PowerState(None, reason)


def known(on: bool, reason: str = "") -> PowerState:
    return PowerState(
        on, reason or ("the device says it is on" if on else "the device says it is off")
    )


@dataclass(frozen=True, slots=True)
class PowerView:
    """A printer's or camera's power as the hub last saw it."""

    known: bool
    on: bool | None
    reason: str
    checked_at: float

    @classmethod
    def of(cls, state: PowerState) -> PowerView:
        return cls(state.known, state.on, state.reason, state.checked_at)
