"""Installing the rendered udev rules and having a running udev apply them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.fleet.file import write_atomically

DEFAULT_RULES_PATH = Path("/etc/udev/rules.d/99-fabfleet.rules")
# The socket udevd listens on; without it `udevadm control` has no one to talk to.
UDEV_CONTROL = Path("/run/udev/control")
RULES_MODE = 0o644
RELOAD = (
    ("udevadm", "control", "--reload"),
    ("udevadm", "trigger", "--subsystem-match=tty", "--subsystem-match=video4linux"),
    # The links exist once the triggered events are handled; `up` looks for them next.
    ("udevadm", "settle", "--timeout=30"),
)


class UdevError(Exception):
    """The rules could not be installed or applied; the message says what to do."""


def install_rules(path: Path, rules: bytes) -> bool:
    """Write ``rules`` to ``path`` unless it already holds them; whether it changed."""
    try:
        if path.read_bytes() == rules:
            return False
    except FileNotFoundError:
        pass
    except OSError as error:
        raise UdevError(f"cannot read {path}: {error.strerror}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, rules, RULES_MODE)
    except PermissionError:
        raise UdevError(f"no permission to write {path}; run fabfleet up as root") from None
    except OSError as error:
        raise UdevError(f"cannot write {path}: {error.strerror or error}") from None
    return True


def reload_udev(control: Path = UDEV_CONTROL) -> str | None:
    """Reload the rules and replay tty and video4linux events.

    Returns a note instead when no udevd runs (a container, a chroot): the rules
    are installed and apply when udev starts.
    """
    if not control.exists():
        return f"udev is not running (no {control}); the rules apply when it starts"
    for command in RELOAD:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            return "udevadm is not installed; the rules apply when udev starts"
        except subprocess.TimeoutExpired:
            raise UdevError(f"`{' '.join(command)}` did not finish within 60 s") from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise UdevError(f"`{' '.join(command)}` failed: {detail[0]}")
    return None
