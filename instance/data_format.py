"""The version of the print server's data dir: its files, their analysis records, the bed.

The files in the data dir carry no version of their own (the G-code files, their
analysis and toolpath records under ``files/``, ``bed.json``, ``octoprint-uuid``), so
``format.json`` beside them says it for all of them (instance/stored_format.py). The
job records (``jobs.sqlite3``, ``PRAGMA user_version``) and the counters
(``counters.json``, its ``format`` key) carry their own. docs/upgrades.md lists them.
"""

from __future__ import annotations

from pathlib import Path

from instance.stored_format import DirectoryStep, first_marker, upgrade_directory

WHAT = "print server data dir"
# Step N takes the data dir from version N-1 to N; never change one once released.
STEPS: tuple[DirectoryStep, ...] = (first_marker,)


def data_dir_version() -> int:
    """The data dir's version this release writes (for backups, docs/upgrades.md)."""
    return len(STEPS)


def upgrade_data_dir(data_dir: Path) -> int:
    """Bring ``data_dir`` up to date; FormatRefused when it is newer or its marker is
    unreadable. Returns the version it had."""
    return upgrade_directory(data_dir, WHAT, STEPS)
