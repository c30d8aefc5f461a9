"""The proxy's certificate and key in the state directory: copied, or made self-signed.

Real ``openssl`` makes the certificates; a real TLS handshake (Python's ``ssl`` on a
loopback socket) checks that what `up` keeps serves and verifies for the names given.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from orchestrator.fleet.model import Tls
from orchestrator.stack.secrets import Owner
from orchestrator.stack.tls import (
    CERTIFICATE,
    KEY,
    TlsError,
    ensure_tls,
    host_names,
    make_self_signed,
)

ME = Owner(os.getuid(), os.getgid())


def handshake(certificate: Path, key: Path, name: str) -> str:
    """Serve one TLS handshake on the loopback with ``certificate`` and ``key``; the
    subject a client that trusts ``certificate`` sees when it asks for ``name``."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificate, key)
    client = ssl.create_default_context(cafile=str(certificate))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except ssl.SSLError:
                pass

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                client.wrap_socket(raw, server_hostname=name) as tls,
            ):
                peer = tls.getpeercert()
        finally:
            thread.join(10)
    assert peer is not None
    subject = peer["subject"]
    assert isinstance(subject, tuple)
    names = {str(pair[0]): str(pair[1]) for rdn in subject for pair in rdn}
    return names["commonName"]


def test_a_self_signed_certificate_serves_the_host_and_the_names_given(tmp_path: Path) -> None:
    report = ensure_tls(tmp_path, Tls(self_signed=True, names=["farm.lab.example", "10.1.2.3"]),
                        ME)  # fmt: skip
    assert report.written == (KEY, CERTIFICATE)
    host = socket.gethostname()
    assert report.made_for[0] == host
    assert report.made_for[-5:] == ("localhost", "127.0.0.1", "::1", "farm.lab.example",
                                    "10.1.2.3")  # fmt: skip
    certificate, key = tmp_path / CERTIFICATE, tmp_path / KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in key.read_bytes() and b"PRIVATE" not in certificate.read_bytes()
    for name in ("farm.lab.example", "10.1.2.3", "localhost", "127.0.0.1", "::1"):
        assert handshake(certificate, key, name) == host
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(certificate, key, "elsewhere.example")


def test_the_certificate_is_kept_until_its_names_change(tmp_path: Path) -> None:
    ensure_tls(tmp_path, Tls(self_signed=True), ME)
    first = (tmp_path / CERTIFICATE).read_bytes()
    assert not ensure_tls(tmp_path, Tls(self_signed=True), ME).changed
    assert (tmp_path / CERTIFICATE).read_bytes() == first
    renamed = ensure_tls(tmp_path, Tls(self_signed=True, names=["farm.example"]), ME)
    assert renamed.changed and (tmp_path / CERTIFICATE).read_bytes() != first
    assert handshake(tmp_path / CERTIFICATE, tmp_path / KEY, "farm.example")


def test_a_certificate_near_its_end_is_made_anew(tmp_path: Path) -> None:
    ensure_tls(tmp_path, Tls(self_signed=True), ME)
    # One that ends tomorrow, in its place: within the 30 days `up` renews before.
    old = tmp_path / "old"
    old.mkdir()
    make_self_signed(host_names([]), old / "c.pem", old / "k.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-key", str(old / "k.pem"), "-days", "1", "-subj", "/CN=x",
         "-out", str(old / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / CERTIFICATE).chmod(0o644)
    (tmp_path / CERTIFICATE).write_bytes((old / "c.pem").read_bytes())
    assert ensure_tls(tmp_path, Tls(self_signed=True), ME).changed
    assert (tmp_path / CERTIFICATE).read_bytes() != (old / "c.pem").read_bytes()


def test_the_sites_own_files_are_copied_for_the_proxys_user(tmp_path: Path) -> None:
    site = tmp_path / "letsencrypt"
    site.mkdir()
    make_self_signed(["farm.example"], site / "fullchain.pem", site / "privkey.pem")
    (site / "privkey.pem").chmod(0o600)
    tls = Tls(certificate=str(site / "fullchain.pem"), key=str(site / "privkey.pem"))
    state = tmp_path / "state"
    assert ensure_tls(state, tls, ME).written == (KEY, CERTIFICATE)
    assert (state / KEY).read_bytes() == (site / "privkey.pem").read_bytes()
    assert (state / CERTIFICATE).read_bytes() == (site / "fullchain.pem").read_bytes()
    assert stat.S_IMODE((state / KEY).stat().st_mode) == 0o400
    assert not ensure_tls(state, tls, ME).changed
    # Renewed: the next `up` copies the new pair (and reloads nginx).
    make_self_signed(["farm.example"], site / "fullchain.pem", site / "privkey.pem")
    assert ensure_tls(state, tls, ME).written == (KEY, CERTIFICATE)
    assert handshake(state / CERTIFICATE, state / KEY, "farm.example") == "farm.example"


def test_files_that_are_not_a_pair_are_refused_before_nginx_sees_them(tmp_path: Path) -> None:
    for pair in ("a", "b"):
        make_self_signed([f"{pair}.example"], tmp_path / f"{pair}.pem", tmp_path / f"{pair}.key")
    state = tmp_path / "state"
    mixed = Tls(certificate=str(tmp_path / "a.pem"), key=str(tmp_path / "b.key"))
    with pytest.raises(TlsError, match="not a PEM certificate and its private key"):
        ensure_tls(state, mixed, ME)
    missing = Tls(certificate=str(tmp_path / "none.pem"), key=str(tmp_path / "a.key"))
    with pytest.raises(TlsError, match=r"none\.pem does not exist"):
        ensure_tls(state, missing, ME)
    assert not (state / KEY).exists() and not (state / CERTIFICATE).exists()


def test_without_openssl_up_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(TlsError, match="needs openssl"):
        ensure_tls(tmp_path / "state", Tls(self_signed=True), ME)
