"""The proxy's certificate and key, in ``<state_dir>/secrets/tls/``.

nginx runs as the containers' unprivileged user, so it cannot read a key only root may
read (certbot's ``privkey.pem`` is 0600 root). ``up`` therefore copies the site's
certificate and key there, owned by the containers' user (key 0400), after checking that
they are PEM and belong together; or, with ``self_signed``, makes a certificate itself
(``openssl req -x509``, a P-256 key) for the host's names and the fleet file's ``names``,
kept until those names change or it nears its end. The directory is mounted into the
proxy, so after a renewal ``up`` copies the new files and nginx reloads.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.fleet.model import Tls
from orchestrator.stack.secrets import (
    PRINTER_KEY_MODE,
    TLS_DIR,
    Owner,
    private_dir,
    write_key,
)

CERTIFICATE = f"{TLS_DIR}/certificate.pem"
KEY = f"{TLS_DIR}/key.pem"
# The names a self-signed certificate was made for, one a line: a change makes a new one.
NAMES = f"{TLS_DIR}/self-signed-names"
CERTIFICATE_MODE = 0o444
# A self-signed certificate: 825 days (the longest some browsers accept), made anew
# once fewer than 30 remain.
DAYS = 825
RENEW_BEFORE_S = 30 * 24 * 3600


class TlsError(Exception):
    """The fleet file's certificate or key cannot be used; the message says why and how."""


@dataclass(frozen=True, slots=True)
class TlsReport:
    """What changed in ``secrets/tls`` (relative names), for `up`'s lines and the reload."""

    written: tuple[str, ...]
    # The names a self-signed certificate was just made for; empty when none was made.
    made_for: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.written)


def host_names(extra: list[str]) -> list[str]:
    """The names a self-signed certificate is for: the host's, localhost, the loopback
    addresses, then ``extra``; each once, in that order."""
    found = [socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1", "::1", *extra]
    names: list[str] = []
    for name in found:
        if name and name not in names:
            names.append(name)
    return names


def _alt_name(name: str) -> str:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


def make_self_signed(names: list[str], certificate: Path, key: Path) -> None:
    """A self-signed server certificate for ``names`` (the first is its subject) and its
    private key, written to ``certificate`` and ``key`` with ``openssl``."""
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-sha256", "-days", str(DAYS), "-subj", f"/O=fabfleet/CN={names[0][:64]}",
        "-addext", "subjectAltName=" + ",".join(_alt_name(n) for n in names),
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth",
        "-keyout", str(key), "-out", str(certificate),
    ]  # fmt: skip
    done = _openssl(command)
    if done.returncode != 0:
        raise TlsError(f"openssl could not make a certificate: {done.stderr.strip()}")


def _openssl(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise TlsError(
            "a self-signed certificate needs openssl (Debian: apt-get install openssl)"
        ) from None


def _expires_soon(certificate: Path) -> bool:
    """True if ``certificate`` ends within 30 days (or cannot be read as one)."""
    check = ["openssl", "x509", "-noout", "-checkend", str(RENEW_BEFORE_S), "-in"]
    return _openssl([*check, str(certificate)]).returncode != 0


def check_pair(certificate: Path, key: Path) -> None:
    """Raise :class:`TlsError` unless ``certificate`` and ``key`` are PEM files that belong
    together (what nginx would otherwise refuse at its start, in its container's log)."""
    for path in (certificate, key):
        try:
            with path.open("rb"):
                pass
        except FileNotFoundError:
            raise TlsError(f"site.tls: {path} does not exist") from None
        except PermissionError:
            raise TlsError(f"site.tls: cannot read {path}; run `fabfleet up` as root") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certificate, key)
    except ssl.SSLError as error:
        raise TlsError(
            f"site.tls: {certificate} and {key} are not a PEM certificate and its private key"
            f" ({error.reason or error})"
        ) from None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _place(state_dir: Path, name: str, data: bytes, mode: int, owner: Owner) -> bool:
    """``data`` at ``state_dir/name`` unless it is there already; True if written."""
    path = state_dir / name
    if _read(path) == data:
        return False
    write_key(path, data.decode("ascii"), mode, owner, newline=False)
    return True


def _tls_dir(state_dir: Path, owner: Owner) -> Path:
    """``secrets/tls``: 0700, the containers' user's (nginx reads it as that user)."""
    private_dir(state_dir / TLS_DIR, owner)
    return state_dir / TLS_DIR


def _self_signed(state_dir: Path, names: list[str]) -> tuple[bytes, bytes] | None:
    """A new certificate and key for ``names``; None while the kept one still serves."""
    certificate, key = state_dir / CERTIFICATE, state_dir / KEY
    wanted = "".join(f"{n}\n" for n in names).encode()
    if (
        _read(state_dir / NAMES) == wanted
        and certificate.exists()
        and key.exists()
        and not _expires_soon(certificate)
    ):
        return None
    with tempfile.TemporaryDirectory(prefix=".tls-", dir=state_dir / TLS_DIR) as scratch:
        made_certificate, made_key = Path(scratch) / "certificate.pem", Path(scratch) / "key.pem"
        make_self_signed(names, made_certificate, made_key)
        return made_certificate.read_bytes(), made_key.read_bytes()


def ensure_tls(state_dir: Path, tls: Tls, owner: Owner) -> TlsReport:
    """The certificate and key the proxy serves, in ``secrets/tls``: the site's files
    copied when they differ, or a self-signed pair made when there is none for ``names``."""
    _tls_dir(state_dir, owner)
    files = tls.files()
    if files is None:
        return _ensure_self_signed(state_dir, host_names(tls.names), owner)
    certificate, key = Path(files[0]), Path(files[1])
    check_pair(certificate, key)
    written = [
        name
        for name, source, mode in ((KEY, key, PRINTER_KEY_MODE),
                                   (CERTIFICATE, certificate, CERTIFICATE_MODE))
        if _place(state_dir, name, source.read_bytes(), mode, owner)
    ]  # fmt: skip
    (state_dir / NAMES).unlink(missing_ok=True)
    return TlsReport(tuple(written))


def _ensure_self_signed(state_dir: Path, names: list[str], owner: Owner) -> TlsReport:
    made = _self_signed(state_dir, names)
    if made is None:
        return TlsReport(())
    certificate, key = made
    listed = "".join(f"{n}\n" for n in names).encode()
    # The key first: a certificate never stands next to a key not its own for long.
    for name, data, mode in (
        (KEY, key, PRINTER_KEY_MODE),
        (CERTIFICATE, certificate, CERTIFICATE_MODE),
        (NAMES, listed, CERTIFICATE_MODE),
    ):
        write_key(state_dir / name, data.decode("ascii"), mode, owner, newline=False)
    return TlsReport((KEY, CERTIFICATE), tuple(names))
