"""Wheels for the Python images, prepared on the host: no package index is reached in a build.

fabfleet's own wheel is built from its source (``--source``, the checkout the
running package lives in, or the source folder pip installed it from) with pip on the
host, so its optional C analysis kernel is compiled for the host's CPU: the images are
built for the host that runs them. An installed fabfleet without a source uses a
wheel instead: ``--wheel``, the wheel file pip installed it from, else its own installed
files repacked into a wheel (:mod:`orchestrator.images.repack`); see :func:`find_origin`.
Its runtime dependencies are downloaded as binary wheels for the images' Python
(Debian bookworm's CPython 3.11) and the host's CPU. Both are cached under
:func:`cache_dir`, keyed by what they are made from, so a second build reuses them.

For another CPU (aarch64 images made on an x86_64 host: ``machine`` of
:func:`prepare_wheels`) the dependencies are downloaded for that CPU, and fabfleet's
wheel goes without its C kernel, compiled for the host, as the pure Python wheel it
then is (the kernel is optional: the analysis falls back to Python).
"""

from __future__ import annotations

import email.parser
import fnmatch
import hashlib
import json
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
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from orchestrator.images.repack import RepackError, pure, repack, wheel_files

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


OriginKind = Literal["source", "wheel", "installed"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where fabfleet's own wheel for the Python images comes from: a source tree to build
    it from, a wheel file, or the installed package (its ``.dist-info`` folder) to repack;
    ``how`` says why this one (for messages)."""

    path: Path
    kind: OriginKind
    how: str

    def __str__(self) -> str:
        what = {"source": "the source", "wheel": "the wheel", "installed": "the installed"}
        return f"{what[self.kind]} {self.path} ({self.how})"


def installed_from() -> Path | None:
    """The local folder or file pip installed the running fabfleet from, when it says so.

    pip records it (``direct_url.json``) for ``pip install DIR`` and ``pip install
    FILE.whl``, not for an install by name from an index or ``--find-links``.
    """
    try:
        recorded = metadata.distribution("fabfleet").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not recorded:
        return None
    try:
        url = str(json.loads(recorded).get("url", ""))
    except (ValueError, AttributeError):
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def installed_dist_info(here: Path) -> Path | None:
    """The ``.dist-info`` folder of the fabfleet installed in ``here`` (the folder the running
    packages are in), when it is a regular install there (an editable one is not)."""
    try:
        dist = metadata.distribution("fabfleet")
    except metadata.PackageNotFoundError:
        return None
    for name in dist.files or []:
        if name.name == "RECORD" and name.parent.name.endswith(".dist-info"):
            info = Path(str(dist.locate_file(name))).parent
            if info.parent.resolve() == here.resolve():
                return info
    return None


def _is_fabfleet_wheel(path: Path) -> bool:
    return path.is_file() and path.name.startswith("fabfleet-") and path.suffix == ".whl"


def find_origin(
    source: Path | None = None,
    wheel: Path | None = None,
    *,
    here: Path | None = None,
    installed: Path | None = None,
    dist_info: Path | None = None,
) -> Origin:
    """Where fabfleet's wheel comes from: ``wheel``, ``source``, the checkout the running
    package lives in (``here``), what pip installed it from (``installed``), else the
    installed package itself (``dist_info``), repacked."""
    if wheel is not None:
        if not _is_fabfleet_wheel(wheel):
            raise WheelError(f"{wheel} is not a wheel of fabfleet (fabfleet-VERSION-….whl)")
        return Origin(wheel.resolve(), "wheel", "--wheel")
    if source is not None:
        return Origin(find_source(source), "source", "--source")
    here = here or Path(__file__).resolve().parents[2]
    if _is_fabfleet_source(here):
        return Origin(here, "source", "the checkout fabfleet runs from")
    installed = installed or installed_from()
    if installed is not None and _is_fabfleet_wheel(installed):
        return Origin(installed.resolve(), "wheel", "the wheel fabfleet was installed from")
    if installed is not None and _is_fabfleet_source(installed):
        return Origin(installed.resolve(), "source", "the source fabfleet was installed from")
    dist_info = dist_info or installed_dist_info(here)
    if dist_info is not None:
        return Origin(dist_info, "installed", "its files, repacked into a wheel")
    raise WheelError(
        "fabfleet is installed without its source, the wheel it was installed from or a "
        f"record of its files ({here}); give --wheel FILE (fabfleet's wheel of this version) "
        "or --source DIR (a checkout of this version of fabfleet) to build the images"
    )


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


def _folders(source: Path) -> list[str]:
    """The top-level folders the wheel is built from: those of the packages pyproject.toml
    lists (``udev`` and ``compose`` through its ``package-dir`` mapping), or that its
    ``packages.find include`` patterns pick."""
    project = tomllib.loads((source / "pyproject.toml").read_text())
    setuptools = project.get("tool", {}).get("setuptools", {})
    packages = setuptools.get("packages", {"find": {}})
    if isinstance(packages, list):
        mapped = setuptools.get("package-dir", {})
        paths = (str(mapped.get(p, p.replace(".", "/"))) for p in packages)
        return sorted({path.split("/")[0] for path in paths})
    patterns = packages.get("find", {}).get("include", ["*"])
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
    for package in _folders(source):
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


def _fields(text: str) -> dict[str, list[str]]:
    message = email.parser.HeaderParser().parsestr(text)
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key.lower(), []).append(str(value))
    return fields


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    """The fields of a wheel's ``METADATA``, each with every value it has."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if not names:
            raise WheelError(f"{wheel} has no METADATA: not a wheel")
        return _fields(archive.read(names[0]).decode("utf-8"))


def origin_metadata(origin: Origin) -> dict[str, list[str]]:
    """The METADATA fields of a wheel or of the installed package (not of a source)."""
    if origin.kind == "installed":
        return _fields((origin.path / "METADATA").read_text(encoding="utf-8"))
    return wheel_metadata(origin.path)


def origin_requirements(origin: Origin) -> list[str]:
    """fabfleet's runtime dependencies (not those of its extras), as its origin declares."""
    if origin.kind == "source":
        return requirements(origin.path)
    found = origin_metadata(origin).get("requires-dist", [])
    return [r.strip() for r in found if "extra" not in r.partition(";")[2]]


def origin_url(origin: Origin) -> str:
    """Where the source of the images is: the project's URL when it has one, else the
    source folder, wheel file or install."""
    if origin.kind == "source":
        project = tomllib.loads((origin.path / "pyproject.toml").read_text()).get("project", {})
        urls = {str(k).lower(): str(v) for k, v in project.get("urls", {}).items()}
    else:
        urls = {}
        for entry in origin_metadata(origin).get("project-url", []):
            label, _, url = entry.partition(",")
            urls[label.strip().lower()] = url.strip()
    for key in ("source", "repository", "homepage"):
        if key in urls:
            return urls[key]
    return origin.path.as_uri()


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


def given_wheel(wheel: Path, say: Say) -> tuple[Path, str]:
    """A fabfleet wheel used as it is, and the digest of its bytes."""
    say(f"wheels: fabfleet from {wheel}")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def _arch(machine: str) -> str:
    """The wheel tags' name of a CPU given by `uname -m` (or Docker's name)."""
    try:
        return _MACHINES[machine]
    except KeyError:
        raise WheelError(f"fabfleet builds images for x86_64 and aarch64, not {machine}") from None


def _platform_tag(wheel: Path) -> str:
    return wheel.name.removesuffix(".whl").split("-")[-1]


def check_wheel_tags(wheel: Path, machine: str | None = None) -> str:
    """The version of a fabfleet wheel that runs in the images on this host (or for the CPU
    ``machine``); else WheelError."""
    _, version, python_tag, *_, platform_tag = wheel.name.removesuffix(".whl").split("-")
    if python_tag not in (IMAGE_ABI, "py3"):
        raise WheelError(
            f"fabfleet's wheel was built for {python_tag}, the images run Debian bookworm's "
            f"Python {IMAGE_PYTHON}; run fabfleet from a Python {IMAGE_PYTHON} environment"
        )
    if machine is not None and _arch(machine) != _arch(platform.machine()):
        arch = _arch(machine)
        if platform_tag != "any" and not platform_tag.endswith(arch):
            raise WheelError(
                f"fabfleet's wheel {wheel.name} is for {platform_tag}, the images are for {arch}; "
                "give a pure Python wheel (py3-none-any) or one built for that CPU"
            )
        return version
    arch = _MACHINES.get(platform.machine(), platform.machine())
    if platform_tag != "any" and not platform_tag.endswith(arch):
        raise WheelError(
            f"fabfleet's wheel {wheel.name} is for {platform_tag}, this host is {arch}: the "
            "images are built for the host that runs them; give a wheel built on this host"
        )
    return version


def installed_wheel(dist_info: Path, cache: Path, say: Say) -> tuple[Path, str]:
    """The installed fabfleet repacked into a wheel (cached by its files' digest), and that
    digest."""
    try:
        names = wheel_files(dist_info)
        digest = digest_files(dist_info.parent, [Path(n) for n in names])
    except RepackError as error:
        raise WheelError(f"cannot repack the installed fabfleet: {error}") from None
    except OSError as error:
        raise WheelError(
            f"cannot repack the installed fabfleet: an installed file of {dist_info.name} is "
            f"gone: {error.filename}; reinstall fabfleet"
        ) from None
    home = cache / "wheels" / f"fabfleet-installed-{digest[:16]}"
    found = sorted(home.glob("fabfleet-*.whl")) if (home / _COMPLETE).exists() else []
    if found:
        say(f"wheels: fabfleet repacked from its install in {dist_info.parent} (cached)")
        return found[0], digest
    say(f"wheels: fabfleet repacked from its install in {dist_info.parent}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        wheel = repack(dist_info, home)
    except RepackError as error:
        raise WheelError(f"cannot repack the installed fabfleet: {error}") from None
    (home / _COMPLETE).touch()
    return wheel, digest


def pure_wheel(wheel: Path, digest: str, machine: str, cache: Path, say: Say) -> Path:
    """fabfleet's ``wheel`` (made from what ``digest`` names) without its compiled C kernel,
    as a pure Python wheel for the CPU ``machine`` (cached)."""
    arch = _arch(machine)
    home = cache / "wheels" / f"fabfleet-pure-{digest[:16]}"
    found = sorted(home.glob("fabfleet-*.whl")) if (home / _COMPLETE).exists() else []
    if found:
        say(f"wheels: fabfleet for {arch}, pure Python (cached)")
        return found[0]
    say(f"wheels: fabfleet for {arch}: its C kernel is for this host's CPU; pure Python instead")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        made = pure(wheel, home)
    except RepackError as error:
        raise WheelError(f"cannot make fabfleet's wheel pure Python for {arch}: {error}") from None
    (home / _COMPLETE).touch()
    return made


def prepare_wheels(origin: Origin, cache: Path, say: Say, machine: str | None = None) -> Wheelhouse:
    """fabfleet's wheel and its dependencies' for this host's CPU (or for ``machine``, by
    `uname -m`: aarch64 on an x86_64 host), with their digest."""
    if origin.kind == "wheel":
        wheel, source_digest = given_wheel(origin.path, say)
    elif origin.kind == "installed":
        wheel, source_digest = installed_wheel(origin.path, cache, say)
    else:
        wheel, source_digest = fabfleet_wheel(origin.path, cache, say)
    if machine is not None:
        arch = _arch(machine)
        tag = _platform_tag(wheel)
        if arch != _arch(platform.machine()) and tag != "any" and not tag.endswith(arch):
            wheel = pure_wheel(wheel, source_digest, machine, cache, say)
    version = check_wheel_tags(wheel, machine)
    deps = dependency_wheels(origin_requirements(origin), image_platforms(machine), cache, say)
    digest = hashlib.sha256(source_digest.encode())
    for dep in deps:
        digest.update(dep.name.encode() + b"\0" + hashlib.sha256(dep.read_bytes()).digest())
    return Wheelhouse((wheel, *deps), digest.hexdigest(), version, has_kernel(wheel))
