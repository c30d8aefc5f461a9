"""The stack's keys: the gate's master key for the hub, one derived key per print server.

They live in ``<state_dir>/secrets/`` (0700), never in a rendered file: compose.yaml
only names them. ``gate.key`` (32 random bytes, hex, 0600) is made once and kept;
``printer-<name>.key`` (0400) is derived from it for each printer in the fleet by the
hub's own derivation (through :mod:`hub.door`), so a print server holds only its own
key and cannot sign for another printer. A removed
printer's key is deleted. Run as root, the files belong to the containers' user.
``format.json`` beside them says the version of the directory's files (raw keys carry
none; docs/upgrades.md): a newer one than this release knows is refused
(``FormatRefused``) and nothing in the directory is written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hub import door
from instance.stored_format import DirectoryStep, first_marker, upgrade_directory
from instance.stored_format import FormatRefused as FormatRefused

SECRETS_DIR = "secrets"
GATE_KEY = f"{SECRETS_DIR}/gate.key"
PROXY_KEY_CONF = f"{SECRETS_DIR}/proxy-gate.conf"
HUB_DATA = "hub-data"
# Power devices' passwords and tokens, one file per secret name the fleet file gives (0600).
POWER_SECRETS = f"{SECRETS_DIR}/power"
# The proxy's certificate and key (orchestrator/stack/tls.py).
TLS_DIR = f"{SECRETS_DIR}/tls"
KEY_BYTES = 32
GATE_KEY_MODE = 0o600
PRINTER_KEY_MODE = 0o400
PRIVATE_DIR_MODE = 0o700


WHAT = "secrets directory"
# Step N takes the directory from version N-1 to N; never change one once released.
STEPS: tuple[DirectoryStep, ...] = (first_marker,)


def secrets_version() -> int:
    """The secrets directory's version this release writes (for backups)."""
    return len(STEPS)


def printer_key_file(name: str) -> str:
    """Where printer ``name``'s key is, relative to the state directory."""
    return f"{SECRETS_DIR}/printer-{name}.key"


def derive_printer_key(master: bytes, printer: str) -> bytes:
    """The key printer ``printer``'s print server verifies the gate's identities with."""
    return door.printer_key(master, printer)


def derive_proxy_key(master: bytes) -> bytes:
    """The key nginx shows the gate with."""
    return door.proxy_key(master)


def proxy_key_conf(master: bytes) -> str:
    """The nginx include that sends the proxy's key with every question to the gate."""
    return (
        "# Written by fabfleet from the gate's master key; only nginx may read it.\n"
        f'proxy_set_header X-Fabfleet-Proxy-Key "{derive_proxy_key(master).hex()}";'
    )


@dataclass(frozen=True, slots=True)
class Owner:
    """Who the secret files belong to: the containers' user when run as root, else nobody
    changes owner (the files stay the current user's)."""

    uid: int
    gid: int

    @property
    def applies(self) -> bool:
        return os.geteuid() == 0


@dataclass(slots=True)
class SecretsReport:
    """Which key files were written or removed (relative names), for `up`'s lines."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def write_key(path: Path, text: str, mode: int, owner: Owner, *, newline: bool = True) -> None:
    """``text`` (and a newline) in ``path`` with ``mode`` and owner set before it gets its
    name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), mode)
            if owner.applies:
                os.fchown(out.fileno(), owner.uid, owner.gid)
            out.write(text + ("\n" if newline else ""))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_if_changed(
    path: Path, text: str, mode: int, owner: Owner, report: SecretsReport, name: str
) -> None:
    with contextlib.suppress(OSError):
        if path.read_text("ascii").strip() == text.strip():
            return
    write_key(path, text, mode, owner)
    report.written.append(name)


def _read_hex(path: Path) -> bytes | None:
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise OSError(f"{path} is not a hex key; remove it to make a new one") from None


def _private_dir(path: Path) -> None:
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)


def master_key(state_dir: Path, owner: Owner, report: SecretsReport | None = None) -> bytes:
    """The gate's master key, made (random, 0600) when there is none yet."""
    _private_dir(state_dir / SECRETS_DIR)
    upgrade_directory(state_dir / SECRETS_DIR, WHAT, STEPS)
    path = state_dir / GATE_KEY
    key = _read_hex(path)
    if key is None or len(key) < 16:
        key = secrets.token_bytes(KEY_BYTES)
        write_key(path, key.hex(), GATE_KEY_MODE, owner)
        if report is not None:
            report.written.append(GATE_KEY)
    return key


def ensure_secrets(state_dir: Path, printers: list[str], owner: Owner) -> SecretsReport:
    """The master key, the proxy's include and exactly one key file per printer in
    ``printers``."""
    report = SecretsReport()
    master = master_key(state_dir, owner, report)
    wanted = {printer_key_file(name): derive_printer_key(master, name) for name in printers}
    for name, key in wanted.items():
        _write_if_changed(state_dir / name, key.hex(), PRINTER_KEY_MODE, owner, report, name)
    conf = proxy_key_conf(master)
    _write_if_changed(
        state_dir / PROXY_KEY_CONF, conf, PRINTER_KEY_MODE, owner, report, PROXY_KEY_CONF
    )
    for path in sorted((state_dir / SECRETS_DIR).glob("printer-*.key")):
        name = f"{SECRETS_DIR}/{path.name}"
        if name not in wanted:
            path.unlink()
            report.removed.append(name)
    return report


def identity_headers(
    state_dir: Path, printer: str, user: str = "fabfleet", may_act: bool = False
) -> dict[str, str]:
    """Headers that let the host's own tools (`fabfleet status`) ask print server
    ``printer`` directly: an identity signed with the master key, as the hub signs
    (empty when there is no master key yet, or it cannot be read)."""
    try:
        master = _read_hex(state_dir / GATE_KEY)
    except OSError:
        return {}
    if master is None:
        return {}
    return door.identity_header(master, printer, user, may_act)


def private_dir(path: Path, owner: Owner) -> Path:
    """``path`` (under ``secrets/``, made if missing): 0700, the containers' user's when run
    as root, for a container that reads it."""
    _private_dir(path.parent)
    path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    path.chmod(PRIVATE_DIR_MODE)
    if owner.applies:
        info = path.stat()
        if (info.st_uid, info.st_gid) != (owner.uid, owner.gid):
            os.chown(path, owner.uid, owner.gid)
    return path


def ensure_power_secrets(state_dir: Path, owner: Owner) -> Path:
    """The directory of the power devices' secrets (0700, the containers' user's when run as
    root: the hub reads it); the files in it are the administrator's to write (docs/power.md)."""
    return private_dir(state_dir / POWER_SECRETS, owner)


def ensure_hub_data(state_dir: Path, owner: Owner) -> Path:
    """The hub's data directory (bind-mounted into its container): 0700, the containers'
    user's when run as root."""
    path = state_dir / HUB_DATA
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR_MODE)
    if owner.applies:
        info = path.stat()
        if (info.st_uid, info.st_gid) != (owner.uid, owner.gid):
            os.chown(path, owner.uid, owner.gid)
    return path
