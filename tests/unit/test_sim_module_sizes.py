"""Every module of the simulator stays small enough to read in one sitting (500 lines at most)."""

from __future__ import annotations

from pathlib import Path

import instance.sim

LIMIT = 500
SIM = Path(instance.sim.__file__).parent


def oversized(root: Path, limit: int = LIMIT) -> dict[str, int]:
    """The modules under ``root`` (sub-packages too) longer than ``limit`` lines, by path."""
    found: dict[str, int] = {}
    for module in sorted(root.rglob("*.py")):
        lines = len(module.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found[module.relative_to(root).as_posix()] = lines
    return found


def test_no_simulator_module_passes_500_lines() -> None:
    modules = sorted(SIM.rglob("*.py"))
    assert len(modules) > 10, f"expected the simulator's modules under {SIM}"
    assert oversized(SIM) == {}


def test_the_check_sees_a_long_module_in_a_subpackage(tmp_path: Path) -> None:
    (tmp_path / "short.py").write_text("x = 1\n" * LIMIT, encoding="utf-8")
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "long.py").write_text("x = 1\n" * (LIMIT + 1), encoding="utf-8")
    assert oversized(tmp_path) == {"part/long.py": LIMIT + 1}
