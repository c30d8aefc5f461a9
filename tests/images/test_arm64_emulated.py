"""fabfleet on arm64 (Raspberry Pi) under emulation: an arm64 Debian printing here.

No Docker: an arm64 Debian bookworm root (python3, python3-venv) is debootstrapped
under qemu-user-static (orchestrator/images/base.py, emulation.py), fabfleet and its
dependencies are installed into a venv inside it from wheels prepared here for
aarch64 (wheels.py; offline, ``pip --no-index``), and in that root, with ``chroot``,
the simulator and the print server run as aarch64 programs: a real G-code file is
uploaded through the print server's API and printed to the end.

Needs root (binfmt_misc, debootstrap, chroot, mounts) and what scripts/bootstrap's
test set installs (debootstrap, qemu-user-static). The debootstrapped root is kept
as a tar (tests/images/arm64_root.py), named by its recipe (like the images' Debian base,
built once per host); everything else is removed: the processes are stopped, /proc
and /dev unmounted from the root, the root deleted. Each step's time is reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from orchestrator.images.emulation import QEMU, ensure_aarch64
from orchestrator.images.wheels import find_origin, prepare_wheels
from tests.images.arm64_print import print_cube, wait_ready
from tests.images.arm64_root import cached_root, mounts_under, report, step, unmount_all
from tests.images.arm64_root import run as _run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
VENV = "/opt/fabfleet"
KEY = "arm64-test-key-0123456789"
# What runs in the root sees none of the host's environment (its venv, PYTHONPATH).
ROOT_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
CHROOT = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "chroot"
# Everything runs 5 to 20 times slower under emulation: generous, bounded waits.


@dataclass(frozen=True)
class Arm64:
    """The arm64 Debian root with fabfleet in ``VENV``, its /proc and /dev mounted."""

    root: Path

    def chroot(self, *command: str, timeout: float = 600.0) -> str:
        return _run(CHROOT, str(self.root), *command, timeout=timeout, env=ROOT_ENV).stdout

    def start(self, *command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CHROOT, str(self.root), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ROOT_ENV,
        )


@pytest.fixture(scope="module")
def arm64(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Arm64]:
    config = request.config
    assert os.geteuid() == 0, "this test makes and enters an arm64 root: run it as root"
    assert shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin"), (
        "debootstrap is missing: run scripts/bootstrap test"
    )
    assert QEMU.is_file(), "qemu-user-static is missing: run scripts/bootstrap test"
    with step(config, "emulation (binfmt_misc)"):
        ensure_aarch64(lambda line: report(config, line))
    tmp = tmp_path_factory.mktemp("arm64")
    cached = cached_root(config, tmp)
    root = tmp / "root"
    root.mkdir()
    try:
        with step(config, "unpacking the cached root"):
            _run("tar", "--numeric-owner", "-C", str(root), "-xf", str(cached))
        with step(config, "wheels for aarch64 (fabfleet pure Python, dependencies)"):
            house = prepare_wheels(
                find_origin(REPO),
                tmp / "cache",
                lambda line: report(config, line),
                "aarch64",
            )
        assert not house.has_kernel
        wheels = root / "opt" / "wheels"
        wheels.mkdir(parents=True)
        for wheel in house.wheels:
            shutil.copy2(wheel, wheels / wheel.name)
        _run("mount", "-t", "proc", "proc", str(root / "proc"))
        _run("mount", "--bind", "/dev", str(root / "dev"))
        box = Arm64(root)
        with step(config, "python3 -m venv in the root (emulated)"):
            box.chroot("/usr/bin/python3", "-m", "venv", VENV)
        with step(config, "pip install --no-index fabfleet and its dependencies (emulated)"):
            box.chroot(
                f"{VENV}/bin/pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-index",
                "--find-links",
                "/opt/wheels",
                "fabfleet",
            )
        yield box
    finally:
        unmount_all(root)
        assert not mounts_under(root), f"still mounted under {root}"
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_root_and_its_python_are_aarch64(arm64: Arm64) -> None:
    assert arm64.chroot("uname", "-m").strip() == "aarch64"
    out = arm64.chroot(
        f"{VENV}/bin/python",
        "-c",
        "import platform, sys; from instance.analysis.ckernel import load_library;"
        "print(platform.machine(), sys.version_info[:2], load_library())",
    )
    # Debian bookworm's Python, and the pure Python analysis: no C kernel for aarch64.
    assert out.split(None, 1) == ["aarch64", "(3, 11) None\n"]


def _first_line(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if marker not in line:
        process.kill()
        _, errors = process.communicate(timeout=30)
        raise AssertionError(f"did not start: {line!r} {errors}")
    return line.rsplit(marker, 1)[1].strip()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_the_print_server_prints_a_file_from_the_simulator_in_arm64(
    arm64: Arm64, request: pytest.FixtureRequest
) -> None:
    config = request.config
    started = time.monotonic()
    sim = arm64.start(f"{VENV}/bin/fabfleet-sim", "--tcp", "127.0.0.1:0")
    processes = [sim]
    http = requests.Session()
    http.headers["X-Api-Key"] = KEY
    try:
        where = _first_line(sim, "listening on")
        server = arm64.start(
            f"{VENV}/bin/fabfleet-instance",
            "serve",
            "--port",
            f"socket://{where}",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/var/lib/fabfleet-test",
            "--api-key",
            KEY,
        )
        processes.append(server)
        url = _first_line(server, " on ").rstrip("/")

        wait_ready(config, http, url, started)
        # Both are aarch64 programs: qemu runs them, as the kernel says.
        for process in processes:
            exe = Path(f"/proc/{process.pid}/exe").resolve()
            assert exe == QEMU.resolve(), exe
        print_cube(config, http, url)
    finally:
        http.close()
        for process in reversed(processes):
            _stop(process)
    # Both stop cleanly when asked to (SIGTERM), as in a container.
    assert [p.returncode for p in processes] == [0, 0], [p.returncode for p in processes]
