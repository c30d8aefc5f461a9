"""Wheels for the Python images, prepared on the host: no package index is reached in a build.

fabfleet's own wheel is built from its source (the checkout the installed package
lives in, or ``--source``) with pip on the host, so its optional C analysis kernel
is compiled for the host's CPU: the images are built for the host that runs them.
Its runtime dependencies are downloaded as binary wheels for the images' Python
(Debian bookworm's CPython 3.11) and the host's CPU. Both are cached under
:func:`cache_dir`, keyed by what they are made from, so a second build reuses them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# Debian bookworm's python3: CPython 3.11 on glibc 2.36.
IMAGE_PYTHON = "3.11"
IMAGE_ABI = "cp311"
IMAGE_GLIBC_MINOR = 36
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so")
_TOP_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING")
_COMPLETE = ".complete"

Say = Callable[[str], None]


class WheelError(Exception):
    """The wheels cannot be prepared; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Wheelhouse:
    """Every wheel an image installs, and a digest of what they were made from."""

    wheels: tuple[Path, ...]
    digest: str
    version: str
    has_kernel: bool


def cache_dir() -> Path:
    """``$FABFLEET_CACHE_DIR``, else ``$XDG_CACHE_HOME/fabfleet``, else ``~/.cache/fabfleet``."""
    if os.environ.get("FABFLEET_CACHE_DIR"):
        return Path(os.environ["FABFLEET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fabfleet"


def _is_fabfleet_source(directory: Path) -> bool:
    try:
        project = tomllib.loads((directory / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(project.get("project", {}).get("name") == "fabfleet")


def find_source(given: Path | None = None) -> Path:
    """fabfleet's source tree: ``given``, else the checkout the running package comes from."""
    if given is not None:
        if not _is_fabfleet_source(given):
            raise WheelError(f"{given} is not fabfleet's source (no pyproject.toml of fabfleet)")
        return given.resolve()
    here = Path(__file__).resolve().parents[2]
    if _is_fabfleet_source(here):
        return here
    raise WheelError(
        f"fabfleet's source is not next to the installed package ({here}); give --source DIR "
        "(a checkout of this version of fabfleet) to build the images"
    )


def _packages(source: Path) -> list[str]:
    """Top-level directories the project's ``packages.find include`` patterns pick."""
    project = tomllib.loads((source / "pyproject.toml").read_text())
    find = project.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    patterns = find.get("include", ["*"])
    return sorted(
        d.name
        for d in source.iterdir()
        if d.is_dir()
        and (d / "__init__.py").is_file()
        and any(fnmatch.fnmatchcase(d.name, p.split(".")[0]) for p in patterns)
    )


def source_files(source: Path) -> list[Path]:
    """What fabfleet's wheel is built from, relative to ``source``, in a stable order."""
    files = [Path(name) for name in _TOP_FILES if (source / name).is_file()]
    for package in _packages(source):
        for directory, dirs, names in os.walk(source / package):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
            for name in sorted(names):
                if not name.endswith(_SKIP_SUFFIXES):
                    files.append((Path(directory) / name).relative_to(source))
    return files


def digest_files(root: Path, files: Iterable[Path]) -> str:
    """sha256 over the names and contents of ``files`` under ``root``."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(str(name).encode() + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        raise WheelError(
            f"{what} failed (pip exit status {done.returncode}):\n"
            + "\n".join(f"  {line}" for line in tail)
        )


def fabfleet_wheel(source: Path, cache: Path, say: Say) -> tuple[Path, str]:
    """fabfleet's wheel built from ``source`` (cached by its files' digest), and that digest."""
    files = source_files(source)
    digest = digest_files(source, files)
    home = cache / "wheels" / f"fabfleet-{digest[:16]}"
    found = sorted(home.glob("fabfleet-*.whl")) if (home / _COMPLETE).exists() else []
    if found:
        say(f"wheels: fabfleet from {source} (cached)")
        return found[0], digest
    say(f"wheels: building fabfleet from {source}")
    with tempfile.TemporaryDirectory(prefix="fabfleet-wheel-") as scratch:
        copy = Path(scratch) / "src"
        for name in files:  # a copy: the build leaves nothing in the source tree
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, copy / name)
        out = Path(scratch) / "out"
        _pip(["wheel", "--no-deps", f"--wheel-dir={out}", str(copy)], "building fabfleet's wheel")
        built = sorted(out.glob("fabfleet-*.whl"))
        if not built:
            raise WheelError(f"building fabfleet's wheel from {source} produced no wheel")
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        wheel = Path(shutil.copy2(built[0], home / built[0].name))
        (home / _COMPLETE).touch()
    return wheel, digest


def has_kernel(wheel: Path) -> bool:
    """Whether the compiled analysis kernel made it into ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        return any(
            n.startswith("instance/analysis/_kernel") and n.endswith(".so")
            for n in archive.namelist()
        )


def image_platforms(machine: str | None = None) -> list[str]:
    """The wheel platform tags that run in the images on this host's CPU, newest first.

    Debian bookworm has glibc 2.36: every manylinux tag up to that one. pip does not
    widen a ``manylinux_2_X`` tag by itself, so they are all listed.
    """
    name = machine or platform.machine()
    try:
        arch = _MACHINES[name]
    except KeyError:
        raise WheelError(
            f"fabfleet builds images for x86_64 and aarch64 hosts; this one is {name}"
        ) from None
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(IMAGE_GLIBC_MINOR, 16, -1)]
    # The legacy name: pip adds manylinux2010 and manylinux1 from it where they exist.
    return [*tags, f"manylinux2014_{arch}"]


def requirements(source: Path) -> list[str]:
    """fabfleet's runtime dependencies, as its pyproject.toml lists them."""
    project = tomllib.loads((source / "pyproject.toml").read_text())
    return [str(r) for r in project.get("project", {}).get("dependencies", [])]


def dependency_wheels(
    requires: list[str], platforms: list[str], cache: Path, say: Say
) -> list[Path]:
    """Binary wheels of ``requires`` for the images' Python on ``platforms`` (cached)."""
    target = platforms[0]
    key = hashlib.sha256("\0".join([IMAGE_ABI, *platforms, *requires]).encode()).hexdigest()
    home = cache / "wheels" / f"deps-{key[:16]}"
    if (home / _COMPLETE).exists():
        say(f"wheels: {len(requires)} dependencies for {IMAGE_ABI} {target} (cached)")
        return sorted(home.glob("*.whl"))
    say(f"wheels: downloading {len(requires)} dependencies for {IMAGE_ABI} {target}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _pip(
        [
            "download",
            "--only-binary=:all:",
            f"--python-version={IMAGE_PYTHON}",
            "--implementation=cp",
            f"--abi={IMAGE_ABI}",
            "--abi=abi3",
            "--abi=none",
            *(f"--platform={p}" for p in platforms),
            f"--dest={home}",
            *requires,
        ],
        f"downloading fabfleet's dependencies for {IMAGE_ABI} {target}",
    )
    (home / _COMPLETE).touch()
    return sorted(home.glob("*.whl"))


def prepare_wheels(source: Path, cache: Path, say: Say) -> Wheelhouse:
    """fabfleet's wheel and its dependencies' for this host's CPU, with their digest."""
    wheel, source_digest = fabfleet_wheel(source, cache, say)
    deps = dependency_wheels(requirements(source), image_platforms(), cache, say)
    digest = hashlib.sha256(source_digest.encode())
    for dep in deps:
        digest.update(dep.name.encode() + b"\0" + hashlib.sha256(dep.read_bytes()).digest())
    _, version, python_tag, *_ = wheel.name.split("-")
    if python_tag not in (IMAGE_ABI, "py3"):
        raise WheelError(
            f"fabfleet's wheel was built for {python_tag}, the images run Debian bookworm's "
            f"Python {IMAGE_PYTHON}; run fabfleet from a Python {IMAGE_PYTHON} environment"
        )
    return Wheelhouse((wheel, *deps), digest.hexdigest(), version, has_kernel(wheel))
