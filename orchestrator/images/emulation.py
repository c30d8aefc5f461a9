"""Running arm64 (aarch64) programs on an amd64 host: qemu-user-static through binfmt_misc.

Most farms run Raspberry Pis, so fabfleet's images are made for arm64 too, and a
host that builds them has to run aarch64 programs (debootstrap's second stage, pip
inside the root file system, the print server under test). The kernel hands such
programs to Debian's ``qemu-aarch64-static`` once it is registered in
``binfmt_misc`` for aarch64 ELF files. The ``F`` flag makes the kernel open the
interpreter when it is registered, so it also works inside chroots and
containers, which do not have ``/usr/bin/qemu-aarch64-static`` themselves.

:func:`runs_aarch64` answers whether aarch64 programs run here, by running a tiny
aarch64 program; :func:`ensure_aarch64` registers the emulator when they do not
(root only). ``python -m orchestrator.images.emulation [--check]`` does the same
from a shell.
"""

from __future__ import annotations

import os
import platform
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
ENTRY = "qemu-aarch64"
QEMU = Path("/usr/bin/qemu-aarch64-static")
PACKAGE = "qemu-user-static"
# The CPUs that run aarch64 programs natively, by `uname -m`.
_NATIVE = ("aarch64", "arm64")
# What the probe exits with when it ran (any other status: it did not).
_PROBE_STATUS = 42

Say = Callable[[str], None]


class EmulationError(Exception):
    """aarch64 programs cannot be run here; the message says what to do."""


# The first 20 bytes of an aarch64 executable's ELF header, and which of their bits
# binfmt_misc compares: the magic, 64-bit class, little endian, ELF version 1 (the OS
# ABI and padding are not compared), e_type 2 or 3 (an executable or a shared object,
# i.e. a position-independent executable: the mask clears the low bit) and e_machine
# 183 (EM_AARCH64).
_ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EV_CURRENT = 1
_ET_EXEC = 2
_EM_AARCH64 = 183

MAGIC = (
    _ELF_MAGIC
    + bytes([_ELFCLASS64, _ELFDATA2LSB, _EV_CURRENT])
    + bytes(9)
    + struct.pack("<HH", _ET_EXEC, _EM_AARCH64)
)
MASK = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + b"\xfe\xff" + b"\xff\xff"


def _escaped(data: bytes) -> str:
    return "".join(f"\\x{byte:02x}" for byte in data)


def register_line(interpreter: Path = QEMU) -> str:
    """What is written to ``binfmt_misc/register``: aarch64 ELF files go to ``interpreter``,
    opened now (``F``), so chroots and containers without it can use it too."""
    return f":{ENTRY}:M::{_escaped(MAGIC)}:{_escaped(MASK)}:{interpreter}:F"


def probe_program() -> bytes:
    """A complete aarch64 Linux program of 132 bytes that exits with status 42.

    One ELF header, one loadable segment (the whole file, read and execute) and
    three instructions: ``mov x0, #42``, ``mov x8, #93`` (exit), ``svc #0``.
    """
    base = 0x400000
    header_size, segment_size = 64, 56
    code = struct.pack(
        "<III",
        0xD2800000 | (_PROBE_STATUS << 5),  # movz x0, #42
        0xD2800000 | (93 << 5) | 8,  # movz x8, #93 (exit)
        0xD4000001,  # svc #0
    )
    size = header_size + segment_size + len(code)
    entry = base + header_size + segment_size
    ident = MAGIC[:7] + bytes(9)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        _ET_EXEC,
        _EM_AARCH64,
        _EV_CURRENT,
        entry,
        header_size,  # program headers follow the ELF header
        0,  # no section headers
        0,
        header_size,
        segment_size,
        1,
        0,
        0,
        0,
    )
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)  # PT_LOAD, R+X
    return header + segment + code


def native() -> bool:
    """Whether this host's CPU is aarch64 itself."""
    return platform.machine() in _NATIVE


def runs_aarch64() -> bool:
    """Whether an aarch64 program runs on this host (natively or emulated): a real one is run."""
    with tempfile.TemporaryDirectory(prefix="fabfleet-aarch64-") as scratch:
        program = Path(scratch) / "probe"
        program.write_bytes(probe_program())
        program.chmod(0o700)
        try:
            done = subprocess.run([str(program)], capture_output=True, timeout=30, check=False)
        except OSError:  # ENOEXEC: nothing here takes aarch64 programs
            return False
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == _PROBE_STATUS


@dataclass(frozen=True, slots=True)
class Entry:
    """fabfleet's binfmt_misc entry for aarch64 as the kernel reports it."""

    enabled: bool
    interpreter: str
    flags: str


def registered(binfmt: Path = BINFMT_DIR) -> Entry | None:
    """The ``qemu-aarch64`` entry of binfmt_misc, when there is one (and it is mounted)."""
    try:
        text = (binfmt / ENTRY).read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        fields.setdefault(key, value.strip())
    return Entry(
        enabled="enabled" in fields,
        interpreter=fields.get("interpreter", ""),
        flags=fields.get("flags:", ""),
    )


def ready(binfmt: Path = BINFMT_DIR) -> bool:
    """Whether aarch64 programs run here, in chroots and containers too: natively, or through
    an enabled entry whose interpreter was opened when it was registered (``F``)."""
    if native():
        return True
    entry = registered(binfmt)
    return entry is not None and entry.enabled and "F" in entry.flags and runs_aarch64()


def _mount(binfmt: Path) -> None:
    done = subprocess.run(
        ["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (binfmt / "register").exists():
        why = (done.stderr or done.stdout).strip() or f"no {binfmt / 'register'} after mounting"
        raise EmulationError(
            f"cannot mount binfmt_misc on {binfmt} ({why}); the kernel needs binfmt_misc "
            "(CONFIG_BINFMT_MISC) to run arm64 programs on this host"
        )


def ensure_aarch64(say: Say, *, binfmt: Path = BINFMT_DIR, interpreter: Path = QEMU) -> None:
    """Make aarch64 programs run here, in chroots too; say what was done.

    Nothing to do on an aarch64 host or when an enabled ``F`` entry already runs them.
    Otherwise, as root: mount binfmt_misc when it is not, replace an entry of the
    same name that is disabled or lacks ``F``, and register ``interpreter``.
    """
    if native():
        say(f"arm64: this host is {platform.machine()}; no emulation needed")
        return
    if ready(binfmt):
        say(f"arm64: aarch64 programs run here ({ENTRY} in binfmt_misc)")
        return
    if not interpreter.is_file():
        raise EmulationError(
            f"{PACKAGE} is not installed ({interpreter} is missing); install it "
            f"(apt-get install {PACKAGE}) to build and run arm64 images on this "
            f"{platform.machine()} host"
        )
    if os.geteuid() != 0:
        raise EmulationError(
            f"registering {interpreter} for aarch64 programs in binfmt_misc needs root; run "
            "python -m orchestrator.images.emulation as root once (it lasts until a reboot)"
        )
    if not (binfmt / "register").exists():
        say(f"arm64: mounting binfmt_misc on {binfmt}")
        _mount(binfmt)
    if registered(binfmt) is not None:
        say(f"arm64: replacing the {ENTRY} entry of binfmt_misc (disabled or without F)")
        (binfmt / ENTRY).write_text("-1")
    say(f"arm64: registering {interpreter} for aarch64 programs (flag F)")
    try:
        (binfmt / "register").write_text(register_line(interpreter))
    except OSError as error:
        raise EmulationError(
            f"cannot register {interpreter} in binfmt_misc: {error.strerror or error}"
        ) from None
    if not runs_aarch64():
        raise EmulationError(
            f"{interpreter} is registered in binfmt_misc but an aarch64 program still does not "
            "run; check that it is Debian's statically linked qemu-aarch64-static"
        )


def main(argv: list[str] | None = None) -> int:
    """``--check``: say whether aarch64 programs run here; else make them run (as root)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        if ready():
            print("arm64: aarch64 programs run here")
            return 0
        if runs_aarch64():
            print("arm64: aarch64 programs run here, but not in chroots or containers (no F flag)")
        else:
            print("arm64: aarch64 programs do not run here")
        return 1
    if args:
        print("usage: python -m orchestrator.images.emulation [--check]", file=sys.stderr)
        return 2
    try:
        ensure_aarch64(print)
    except EmulationError as error:
        print(f"arm64: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
