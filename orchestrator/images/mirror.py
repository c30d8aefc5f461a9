"""The Debian mirror this host's apt already uses, for building a base image with debootstrap.

Read at run time from apt's own configuration, so no mirror's name is ever part
of fabfleet: deb822 files (``/etc/apt/sources.list.d/*.sources``) first, then the
one-line format (``/etc/apt/sources.list``, ``sources.list.d/*.list``).
``FABFLEET_DEBIAN_MIRROR`` overrides both (for hosts whose apt is not Debian's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

MIRROR_ENV = "FABFLEET_DEBIAN_MIRROR"
APT_DIR = Path("/etc/apt")


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def mirrors_in_deb822(text: str, suite: str) -> list[str]:
    """URIs of enabled ``deb`` stanzas that carry ``suite`` with component ``main``."""
    found = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in stanza.get("types", "").split():
            continue
        if suite not in stanza.get("suites", "").split():
            continue
        if "main" not in stanza.get("components", "").split():
            continue
        found += stanza.get("uris", "").split()
    return found


def mirrors_in_list(text: str, suite: str) -> list[str]:
    """URIs of ``deb [options] URI SUITE main…`` lines of a one-line sources file."""
    found = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # [arch=amd64 signed-by=…]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3 and words[1] == suite and "main" in words[2:]:
            found.append(words[0])
    return found


def find_mirror(
    suite: str = "bookworm", apt_dir: Path = APT_DIR, environ: Mapping[str, str] | None = None
) -> str | None:
    """The first Debian mirror apt uses for ``suite``; None when there is none."""
    env = os.environ if environ is None else environ
    if env.get(MIRROR_ENV):
        return env[MIRROR_ENV]
    candidates: list[str] = []
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        candidates += mirrors_in_deb822(_read(path), suite)
    lists = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in lists:
        candidates += mirrors_in_list(_read(path), suite)
    usable = [c for c in candidates if c.startswith(("http://", "https://", "file:/"))]
    return usable[0] if usable else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
