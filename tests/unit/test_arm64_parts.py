"""The parts of the arm64 images that need no root: binfmt line, probe, recipe, wheels.

The whole (emulation registered, an arm64 root debootstrapped, fabfleet printing in
it) is tests/images/test_arm64_emulated.py.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator.images import emulation
from orchestrator.images.base import (
    BaseImageError,
    host_arch,
    local_base_tag,
    root_recipe,
)
from orchestrator.images.emulation import MAGIC, MASK, EmulationError, ensure_aarch64
from orchestrator.images.mirror import MIRROR_ENV
from orchestrator.images.repack import pure
from orchestrator.images.wheels import WheelError, check_wheel_tags, image_platforms


def _masked(data: bytes) -> bytes:
    return bytes(a & b for a, b in zip(data[: len(MASK)], MASK, strict=True))


def test_the_binfmt_line_sends_aarch64_elf_files_to_qemu_with_the_f_flag() -> None:
    line = emulation.register_line()
    name, kind, offset, magic, mask, interpreter, flags = line[1:].split(":")
    assert (name, kind, offset, interpreter, flags) == (
        "qemu-aarch64",
        "M",
        "",
        "/usr/bin/qemu-aarch64-static",
        "F",
    )
    assert magic == "".join(f"\\x{b:02x}" for b in MAGIC)
    assert mask == "".join(f"\\x{b:02x}" for b in MASK)
    assert len(MAGIC) == len(MASK) == 20


def test_the_probe_is_an_aarch64_program_and_this_python_is_not_matched() -> None:
    probe = emulation.probe_program()
    assert len(probe) == 132
    assert _masked(probe) == _masked(MAGIC)
    # A position-independent executable (e_type 3) matches too; the host's own programs not.
    assert _masked(probe[:16] + b"\x03" + probe[17:]) == _masked(MAGIC)
    host = Path(sys.executable).resolve().read_bytes()[:20]
    if not emulation.native():
        assert _masked(host) != _masked(MAGIC)


def test_the_kernel_s_entry_is_read(tmp_path: Path) -> None:
    assert emulation.registered(tmp_path) is None
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\n"
        "magic 7f454c46\nmask ffffffff\n"
    )
    assert emulation.registered(tmp_path) == emulation.Entry(
        True, "/usr/bin/qemu-aarch64-static", "F"
    )
    (tmp_path / "qemu-aarch64").write_text("disabled\ninterpreter /x\nflags: \n")
    entry = emulation.registered(tmp_path)
    assert entry is not None and not entry.enabled and entry.flags == ""


def test_without_qemu_or_root_emulation_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulation, "native", lambda: False)
    with pytest.raises(EmulationError, match=r"apt-get install qemu-user-static"):
        ensure_aarch64(print, binfmt=tmp_path, interpreter=tmp_path / "qemu-aarch64-static")
    qemu = tmp_path / "qemu"
    qemu.write_bytes(b"")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(EmulationError, match=r"binfmt_misc needs root"):
        ensure_aarch64(print, binfmt=tmp_path, interpreter=qemu)


def _apt(tmp_path: Path, uri: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        f"Types: deb\nURIs: {uri}\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    return tmp_path


def test_a_root_s_recipe_names_its_cpu_and_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    apt = _apt(tmp_path, "http://mirror.invalid/debian")
    arm = root_recipe("arm64", ("python3", "python3-venv"), apt_dir=apt)
    assert arm.includes == ("python3", "python3-venv")
    assert arm.sources == (
        "deb http://mirror.invalid/debian bookworm main\n"
        "deb http://mirror.invalid/debian bookworm-updates main\n"
    )
    amd = root_recipe("amd64", ("python3", "python3-venv"), apt_dir=apt)
    assert arm.key != amd.key
    # With nothing more, the host's recipe is that of the local base image.
    host = root_recipe(host_arch(), apt_dir=apt)
    assert local_base_tag(host.sources, host.includes, host.arch).endswith(host.key[:12])
    with pytest.raises(BaseImageError, match="not armhf"):
        root_recipe("armhf", apt_dir=apt)


def test_an_https_mirror_brings_its_certificates_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    apt = _apt(tmp_path, "https://mirror.invalid/debian")
    recipe = root_recipe("arm64", ("ca-certificates", "python3"), apt_dir=apt)
    assert recipe.includes == ("ca-certificates", "python3")


def test_aarch64_wheels_are_for_manylinux_aarch64_and_a_host_wheel_is_refused() -> None:
    tags = image_platforms("aarch64")
    assert tags[0] == "manylinux_2_36_aarch64"
    assert tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_17_aarch64" in tags
    assert check_wheel_tags(Path("fabfleet-0.1.0-py3-none-any.whl"), "aarch64") == "0.1.0"
    with pytest.raises(WheelError):
        check_wheel_tags(Path("fabfleet-0.1.0-cp311-cp311-linux_x86_64.whl"), "aarch64")


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(path: Path) -> Path:
    files = {
        "pkg/__init__.py": b"",
        "pkg/_kernel.cpython-311-x86_64-linux-gnu.so": b"\x7fELF compiled",
        "pkg/_kernel.c": b"int main;",
        "pkg-0.1.0.dist-info/METADATA": b"Metadata-Version: 2.4\nName: pkg\nVersion: 0.1.0\n",
        "pkg-0.1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: setuptools\n"
        b"Root-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n\n",
    }
    record = "".join(f"{n},{_hash(d)},{len(d)}\n" for n, d in files.items())
    record += "pkg-0.1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 2, 3, 4, 6)), data)
        archive.writestr(zipfile.ZipInfo("pkg-0.1.0.dist-info/RECORD"), record)
    return path


def test_a_wheel_without_its_optional_extension_is_a_pure_wheel(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "pkg-0.1.0-cp311-cp311-linux_x86_64.whl")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    made = pure(wheel, tmp_path / "a")
    assert made.name == "pkg-0.1.0-py3-none-any.whl"
    # The same wheel gives the same bytes.
    assert pure(wheel, tmp_path / "b").read_bytes() == made.read_bytes()
    with zipfile.ZipFile(made) as archive:
        names = archive.namelist()
        assert not [n for n in names if n.endswith(".so")]
        assert "pkg/_kernel.c" in names
        assert archive.read("pkg-0.1.0.dist-info/WHEEL").decode() == (
            "Wheel-Version: 1.0\nGenerator: setuptools\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n\n"
        )
        rows = list(csv.reader(io.StringIO(archive.read("pkg-0.1.0.dist-info/RECORD").decode())))
        recorded = {row[0]: row[1:] for row in rows}
        assert set(recorded) == set(names)
        for name in names:
            if name.endswith("/RECORD"):
                assert recorded[name] == ["", ""]
            else:
                data = archive.read(name)
                assert recorded[name] == [_hash(data), str(len(data))]


def test_a_stalled_debootstrap_is_stopped_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror that never answers: debootstrap is not waited on for ever."""
    from orchestrator.images import base

    stalled = tmp_path / "debootstrap"
    stalled.write_text("#!/bin/sh\nexec sleep 30\n")
    stalled.chmod(0o755)
    monkeypatch.setattr(base, "DEBOOTSTRAP_TIMEOUT", 1)
    with pytest.raises(base.BaseImageError, match="took longer than 1 s and was stopped"):
        base._debootstrap(str(stalled), "http://mirror.invalid/debian", (), tmp_path / "r", "arm64")
