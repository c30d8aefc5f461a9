"""Writing rendered files only when their bytes changed, and showing what would change."""

from __future__ import annotations

import difflib
from pathlib import Path

from orchestrator.fleet.file import write_atomically

# Readable by all: nginx and the hub read their files as the container user.
RENDERED_MODE = 0o644


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_changed(out_dir: Path, files: dict[str, bytes]) -> dict[str, bool]:
    """Write each file whose content differs from what is on disk; name → whether it changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed: dict[str, bool] = {}
    for name, data in files.items():
        path = out_dir / name
        changed[name] = _current(path) != data
        if changed[name]:
            path.parent.mkdir(mode=0o755, exist_ok=True)
            write_atomically(path, data, RENDERED_MODE)
    return changed


def diff_changed(out_dir: Path, files: dict[str, bytes]) -> list[str]:
    """A unified diff for each file that would change; writes nothing."""
    diffs = []
    for name, data in files.items():
        path = out_dir / name
        old = _current(path)
        if old == data:
            continue
        old_lines = [] if old is None else old.decode("utf-8", "replace").splitlines(True)
        lines = difflib.unified_diff(
            old_lines,
            data.decode("utf-8").splitlines(True),
            fromfile="/dev/null" if old is None else str(path),
            tofile=str(path),
        )
        diffs.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return diffs
