"""The arm64 Debian root the arm64 tests share, debootstrapped once per host and kept as a tar.

An arm64 bookworm with ``python3``, ``python3-venv`` and ``ffmpeg`` is debootstrapped
under emulation (about 200 s, ffmpeg's ~80 packages more) and kept under
:data:`ROOT_CACHE`, named by its recipe: tests/images/test_arm64_emulated.py unpacks it
and enters it with ``chroot``, tests/images/test_arm64_docker.py loads it as the base
image of the arm64 images.
Each step's time is written to the terminal as it happens (the figures in
docs/images.md come from there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.images.base import debian_root, root_recipe

ROOT_CACHE = Path(os.environ.get("FABFLEET_TEST_ROOT_CACHE", "/var/tmp/fabfleet-test-roots"))
# What the print server's image installs, so that each run of the arm64 image build finds
# them there (ffmpeg alone is ~90 s of emulated dpkg per build otherwise).
PACKAGES = ("python3", "python3-venv", "ffmpeg")


def report(config: pytest.Config, line: str) -> None:
    """``line`` on the terminal as it happens."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(line if line.startswith("arm64:") else f"arm64: {line}")


@contextlib.contextmanager
def step(config: pytest.Config, what: str) -> Iterator[None]:
    """Report how long the block took."""
    started = time.monotonic()
    yield
    report(config, f"{what}: {time.monotonic() - started:.1f} s")


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def unmount_all(root: Path) -> None:
    for point in sorted(mounts_under(root), reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False, timeout=60)


def run(
    *command: str, timeout: float = 1800.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert done.returncode == 0, f"{command}: exit status {done.returncode}\n{done.stderr}"
    return done


def cached_root(config: pytest.Config, tmp: Path) -> Path:
    """The tar of the arm64 root, debootstrapped under emulation unless it is cached."""
    recipe = root_recipe("arm64", PACKAGES)
    cached = ROOT_CACHE / f"debian-{recipe.arch}-{recipe.key[:16]}.tar"
    if cached.is_file():
        report(config, f"debian root: cached {cached}")
        return cached
    build = tmp / "build"
    try:
        with step(config, "debootstrap of an arm64 bookworm with python3 (emulated)"):
            debian_root(recipe, build, lambda line: report(config, line))
        ROOT_CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".partial-{os.getpid()}")
        run("tar", "--numeric-owner", "-C", str(build), "-cf", str(partial), ".")
        partial.rename(cached)
    finally:
        unmount_all(build)
        if not mounts_under(build):
            shutil.rmtree(build, ignore_errors=True)
    return cached
