"""What is wrong with a fleet file: one problem per line, each with file, line, field and fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A field path as pydantic and the YAML walker spell it: ("printers", 1, "baudrate").
FieldPath = tuple[str | int, ...]


def spell_path(path: FieldPath) -> str:
    """``("printers", 1, "baudrate")`` → ``printers[1].baudrate``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing to fix in a fleet file."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class FleetFileError(Exception):
    """A fleet file that cannot be used, with every problem found in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
