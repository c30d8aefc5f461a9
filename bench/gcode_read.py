"""How fast ``GcodeFile`` reads a big file's commands (what a print and a resume wait for).

The tower fixture (over 50 000 commands) is read end to end three times; the
best of the three counts. Target: under 0.2 s on the reference machine (the
figure the unit tests used to assert; a loaded machine says nothing about it).

    python -m bench.gcode_read [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from instance.gcode_file import GcodeFile

TOWER = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "gcode" / "tower_prusa_relE.gcode"
)
TARGET_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class ReadResult:
    commands: int
    best_seconds: float
    target_seconds: float

    @property
    def passed(self) -> bool:
        return self.best_seconds < self.target_seconds


def measure(path: Path = TOWER, repeat: int = 3) -> ReadResult:
    gcode = GcodeFile(path)
    best = float("inf")
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = sum(1 for _ in gcode.iter_commands())
        best = min(best, time.perf_counter() - started)
    return ReadResult(count, best, TARGET_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(repeat=args.repeat)
    verdict = "PASS" if result.passed else "FAIL"
    print(
        f"{TOWER.name}: {result.commands} commands, best of {args.repeat}: "
        f"{result.best_seconds * 1000:.0f} ms (target < {TARGET_SECONDS * 1000:.0f} ms): {verdict}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({**asdict(result), "passed": result.passed}, indent=1))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
