"""The uvcvideo DKMS package: built by the real DKMS against Debian's own headers."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "kernel-patches" / "uvcvideo"
BUILD_SCRIPT = PACKAGE / "fabfleet-uvc-build"
NAME = "fabfleet-uvcvideo"


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, env=env
    )


def debian_headers_kernel() -> str:
    """The kernel whose headers Debian's linux-headers-<arch> meta package installs."""
    arch = run("dpkg", "--print-architecture").stdout.strip()
    depends = run("dpkg-query", "-W", "-f=${Depends}", f"linux-headers-{arch}").stdout
    found = re.search(r"linux-headers-(\S+)", depends)
    assert found, f"linux-headers-{arch} is not installed (scripts/bootstrap installs it)"
    return found.group(1)


def modinfo(*args: str | Path) -> dict[str, list[str]]:
    result = run("modinfo", *args)
    assert result.returncode == 0, result.stderr
    fields: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key, []).append(value.strip())
    return fields


@pytest.fixture(scope="module")
def kernel() -> str:
    return debian_headers_kernel()


@pytest.fixture(scope="module")
def dkms_package(kernel: str) -> Iterator[str]:
    """The package added and built under a version of its own, removed afterwards."""
    version = f"0.0test{uuid.uuid4().hex[:6]}"
    source = Path("/usr/src") / f"{NAME}-{version}"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build"))
    conf = source / "dkms.conf"
    conf.write_text(
        re.sub(r'PACKAGE_VERSION="[^"]*"', f'PACKAGE_VERSION="{version}"', conf.read_text())
    )
    spec = f"{NAME}/{version}"
    try:
        added = run("dkms", "add", spec)
        assert added.returncode == 0, added.stdout + added.stderr
        built = run("dkms", "build", spec, "-k", kernel)
        assert built.returncode == 0, built.stdout + built.stderr
        yield version
    finally:
        run("dkms", "remove", spec, "--all")
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(Path("/var/lib/dkms") / NAME / version, ignore_errors=True)


def built_module(version: str, kernel: str) -> Path:
    found = sorted((Path("/var/lib/dkms") / NAME / version / kernel).glob("*/module/uvcvideo.ko*"))
    assert len(found) == 1, found
    return found[0]


def test_dkms_builds_uvcvideo_with_the_new_parameter(dkms_package: str, kernel: str) -> None:
    status = run("dkms", "status", f"{NAME}/{dkms_package}", "-k", kernel).stdout
    assert "built" in status, status
    info = modinfo(built_module(dkms_package, kernel))
    assert info["vermagic"][0].split()[0] == kernel
    params = {p.split(":", 1)[0]: p for p in info["parm"]}
    assert "max_compressed_payload" in params
    assert "(0: what the camera asks" in params["max_compressed_payload"]
    # The stock parameters are all still there: only one was added.
    assert {"quirks", "nodrop", "timeout", "trace", "hwtimestamps", "clock"} <= set(params)
    # Secure Boot: DKMS signed it with its own key (the one mokutil --import enrols).
    assert info.get("signer"), "the module is not signed"


def uvcvideo_for(kernel: str) -> dict[str, list[str]] | None:
    """What `modprobe uvcvideo` would load on that kernel; None when there is none."""
    result = run("modinfo", "-k", kernel, "uvcvideo")
    return modinfo("-k", kernel, "uvcvideo") if result.returncode == 0 else None


def test_installed_module_is_the_one_modprobe_loads_until_removed(
    dkms_package: str, kernel: str
) -> None:
    spec = f"{NAME}/{dkms_package}"
    # CI has the headers only, no linux-image: then there is no stock module.
    before = uvcvideo_for(kernel)
    assert before is None or "max_compressed_payload" not in " ".join(before["parm"])
    # --force: a stock module carries the same version string (same source).
    installed = run("dkms", "install", spec, "-k", kernel, "--force")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        ours = uvcvideo_for(kernel)
        assert ours is not None
        assert "/updates/dkms/" in ours["filename"][0]
        assert any(p.startswith("max_compressed_payload:") for p in ours["parm"])
    finally:
        uninstalled = run("dkms", "uninstall", spec, "-k", kernel)
        assert uninstalled.returncode == 0, uninstalled.stdout + uninstalled.stderr
    after = uvcvideo_for(kernel)
    assert (after and after["filename"]) == (before and before["filename"])


def test_unknown_kernel_series_is_refused_with_what_to_do() -> None:
    result = run(BUILD_SCRIPT, "check", "5.15.0-100-generic")
    assert result.returncode == 1
    assert "series 5.15, which this patch does not know (it knows: 6.1 6.8)" in result.stderr
    assert "quirks=0x80" in result.stderr


@pytest.mark.parametrize("kernelver", ["6.1.0-56-amd64", "6.1.0-28-arm64", "6.8.0-45-generic"])
def test_known_series_are_accepted(kernelver: str) -> None:
    result = run(BUILD_SCRIPT, "check", kernelver)
    assert result.returncode == 0, result.stderr


def test_dkms_autoinstall_skips_the_same_series_the_script_refuses() -> None:
    """dkms.conf's BUILD_EXCLUSIVE_KERNEL and the script's SERIES list agree."""
    conf = (PACKAGE / "dkms.conf").read_text()
    found = re.search(r'^BUILD_EXCLUSIVE_KERNEL="([^"]+)"', conf, re.MULTILINE)
    assert found
    pattern = re.compile(found.group(1).replace("\\\\", "\\"))
    listed = re.search(r'^SERIES="([^"]+)"', BUILD_SCRIPT.read_text(), re.MULTILINE)
    assert listed
    for series in listed.group(1).split():
        assert pattern.search(f"{series}.0-1-amd64"), series
    for other in ("5.15.0-1-generic", "6.6.51+rpt-rpi-v8", "6.12.0-1-amd64", "6.10.0-1-amd64"):
        assert not pattern.search(other), other
        assert run(BUILD_SCRIPT, "check", other).returncode == 1


def test_missing_kernel_source_names_the_package_to_install(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FABFLEET_UVC_SOURCE": str(tmp_path / "absent.tar.xz")}
    result = run(BUILD_SCRIPT, "extract", "6.1.0-56-amd64", tmp_path / "out", env=env)
    assert result.returncode == 1
    assert f"FABFLEET_UVC_SOURCE={tmp_path / 'absent.tar.xz'} does not exist" in result.stderr


def test_a_driver_the_patch_does_not_fit_is_refused_not_built(tmp_path: Path) -> None:
    """A distribution that changed the driver gets a clear refusal, not a broken module."""
    tree = tmp_path / "linux"
    uvc = tree / "drivers" / "media" / "usb" / "uvc"
    uvc.mkdir(parents=True)
    (uvc / "uvc_video.c").write_text("/* a uvc_video.c without the fix-up this patch extends */\n")
    (uvc / "Makefile").write_text("obj-m += uvcvideo.o\n")
    env = {"PATH": "/usr/bin:/bin", "FABFLEET_UVC_SOURCE": str(tree)}
    result = run(BUILD_SCRIPT, "extract", "6.1.0-56-amd64", tmp_path / "out", env=env)
    assert result.returncode == 1
    assert "the patch does not apply to the uvcvideo of" in result.stderr
    assert not (tmp_path / "out" / "uvc_fabfleet.c").exists()
