"""The archive's manifest: its format's version, what it holds, each member's SHA-256.

Pure: it reads and writes JSON text and checks it, nothing else. The manifest is the
archive's last member (``manifest.json``), written once every other member's digest is known.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

NAME = "manifest.json"
KIND = "fabfleet-backup"
# The archive's own layout. A later release that changes it raises this, and refuses
# nothing older; the data inside (hub database, job records) carry their own versions.
FORMAT_VERSION = 1
FLEET_FILE = "fleet.yaml"
STATE = "state"
PRINTERS = "printers"


class ManifestError(Exception):
    """The manifest is missing, malformed, of a newer format, or does not match the archive."""


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the archive."""

    path: str
    size: int
    sha256: str
    mode: int


@dataclass(slots=True)
class Manifest:
    """What a backup holds."""

    fabfleet_version: str
    created: str
    project: str
    state_dir: str
    printers: list[str]
    timelapses: bool
    format_version: int = FORMAT_VERSION
    files: list[Member] = field(default_factory=list)
    # Where a stored file lives ("state/…", "printers/*/…") → the version this release writes.
    formats: dict[str, int] = field(default_factory=dict)

    def newer_formats(self, known: dict[str, int]) -> list[str]:
        """The stored formats in the archive newer than ``known`` (this release's)."""
        return [f"{name} (version {version}; this fabfleet knows {known[name]})"
                for name, version in sorted(self.formats.items())
                if name in known and version > known[name]]  # fmt: skip

    def to_json(self) -> str:
        body: dict[str, Any] = {"kind": KIND, **asdict(self)}
        body["includes"] = {
            "fleet_file": FLEET_FILE,
            "secrets": f"{STATE}/secrets",
            "hub": f"{STATE}/hub-data",
            "printers": {p: f"{PRINTERS}/{p}" for p in self.printers},
            "timelapses": self.timelapses,
        }
        return json.dumps(body, indent=1, sort_keys=True) + "\n"


def parse(text: bytes) -> Manifest:
    """The manifest in ``text``; ManifestError when it is not one this release reads."""
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError(
            "its manifest is damaged (not JSON): the archive is truncated or damaged"
        ) from None
    if not isinstance(body, dict) or body.get("kind") != KIND:
        raise ManifestError("its manifest is not a fabfleet backup's")
    version = body.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ManifestError(f"its manifest has no valid format version ({version!r})")
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"it was made by fabfleet {body.get('fabfleet_version', '?')} in backup format "
            f"{version}; this fabfleet reads formats up to {FORMAT_VERSION}: upgrade fabfleet "
            "first, then restore"
        )
    try:
        files = [Member(str(f["path"]), int(f["size"]), str(f["sha256"]), int(f["mode"]))
                 for f in body["files"]]  # fmt: skip
        return Manifest(
            fabfleet_version=str(body["fabfleet_version"]),
            created=str(body["created"]),
            project=str(body["project"]),
            state_dir=str(body["state_dir"]),
            printers=[str(p) for p in body["printers"]],
            timelapses=bool(body["timelapses"]),
            format_version=version,
            files=files,
            formats={str(k): int(v) for k, v in dict(body.get("formats", {})).items()},
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"its manifest lacks or mangles {error}") from None
