"""What a print server does with the heaters and fans once a job has ended."""

from __future__ import annotations

from dataclasses import dataclass

CHOICES = ("off", "keep")


def check_choice(value: str) -> str:
    """``off`` or ``keep`` (any case, spaces around), else ValueError."""
    choice = value.strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"must be off or keep, not {value!r}")
    return choice


@dataclass(frozen=True, slots=True)
class AfterJobPolicy:
    """``heaters``/``fans``: ``off`` (turned off once the job has ended) or ``keep``.

    Applied after every ending, once the file's own end code or the cancel
    script has run, never during a pause; after a stalled link, once the
    printer answers again.
    """

    heaters: str = "off"
    fans: str = "off"

    def __post_init__(self) -> None:
        for name in ("heaters", "fans"):
            if getattr(self, name) not in CHOICES:
                raise ValueError(f"{name} must be off or keep, not {getattr(self, name)!r}")

    @property
    def acts(self) -> bool:
        return "off" in (self.heaters, self.fans)

    def describe(self) -> str:
        """E.g. 'heaters off, fans kept'."""
        words = {"off": "off", "keep": "kept"}
        return f"heaters {words[self.heaters]}, fans {words[self.fans]}"

    def as_json(self) -> dict[str, str]:
        return {"heaters": self.heaters, "fans": self.fans}

    def commands(self, extruders: int) -> list[str]:
        """The G-code that carries the policy out on a printer with ``extruders`` hotends."""
        commands: list[str] = []
        if self.heaters == "off":
            commands += [f"M104 T{tool} S0" for tool in range(max(1, extruders))]
            commands.append("M140 S0")
        if self.fans == "off":
            commands.append("M107")
        return commands
