"""Gate mode: a print server does only what the hub signed for this printer, as that user.

The identities are made by the hub's own ``hub/auth/signing.py`` (so the two sides are checked
against each other), and by hand here for identities the hub would never sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hub.auth.signing import Identity, identity_for, printer_key, sign
from instance.sim.process import BIN, simulator_process, stop_process
from tests.web.server import Served, gcode_head, start_server

pytestmark = pytest.mark.timeout(180)

PRINTER = "mk3"
MASTER = secrets.token_bytes(32)


def forged(key: bytes, body: dict[str, object]) -> str:
    """An identity signed with ``key`` whatever it says (the hub never signs such a thing)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    payload = b64(json.dumps(body).encode())
    return f"{payload}.{b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"


class SignedAs(requests.auth.AuthBase):
    """Each request carries a fresh identity for ``printer`` as ``user``."""

    def __init__(self, user: str, may_act: bool, printer: str = PRINTER) -> None:
        self.user, self.may_act, self.printer = user, may_act, printer

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        identity = identity_for(MASTER, self.printer, self.user, self.may_act)
        request.headers["X-Fabfleet-Identity"] = identity
        return request


def key_file(directory: Path, mode: int = 0o400) -> Path:
    path = directory / f"printer-{PRINTER}.key"
    path.write_text(printer_key(MASTER, PRINTER).hex() + "\n")
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A print server in gate mode for printer mk3 (an API key is set too, and not enough)."""
    workdir = tmp_path_factory.mktemp("gated")
    with simulator_process(workdir) as sim:
        served = start_server(
            sim, workdir / "data", "--printer", PRINTER,
            "--gate-key-file", str(key_file(workdir)), wait_ready=False,
        )  # fmt: skip
        try:
            served.http.auth = SignedAs("alice", may_act=True)
            served.wait_state("ready", seconds=20)
            yield served
        finally:
            served.http.close()
            stop_process(served.process)


def status(served: Served, method: str, path: str, identity: str | None = None) -> int:
    headers = {} if identity is None else {"X-Fabfleet-Identity": identity}
    answer = requests.request(method, served.url + path, headers=headers, timeout=30)
    return answer.status_code


def test_without_an_identity_only_health_answers(gated: Served) -> None:
    assert status(gated, "GET", "/api/health") == 200
    for method, path in [("GET", "/api/v1/printer"), ("GET", "/"), ("POST", "/api/v1/job"),
                         ("GET", "/api/v1/events"), ("GET", "/api/v1/files")]:  # fmt: skip
        assert status(gated, method, path) == 401, path
    answer = requests.get(gated.url + "/api/v1/printer", timeout=30)
    assert "hub" in answer.json()["error"]
    # The API key that would open a server without a gate key opens nothing here.
    key = {"X-Api-Key": "whatever", "Authorization": "Bearer whatever"}
    assert requests.get(gated.url + "/api/v1/printer", headers=key, timeout=30).status_code == 401


def test_an_identity_the_hub_signed_for_this_printer_opens_it(gated: Served) -> None:
    good = identity_for(MASTER, PRINTER, "bob", may_act=False)
    assert status(gated, "GET", "/api/v1/printer", good) == 200
    assert status(gated, "GET", "/", good) == 200


def test_a_bad_identity_is_refused_with_403(gated: Served) -> None:
    other_hub = identity_for(secrets.token_bytes(32), PRINTER, "bob", may_act=True)
    for_another_printer = identity_for(MASTER, "ender", "bob", may_act=True)
    own_key = printer_key(MASTER, PRINTER)
    soon = int(time.time()) + 60
    # Signed with this printer's key, but naming another printer.
    renamed = forged(own_key, {"p": "ender", "u": "bob", "a": True, "exp": soon})
    expired = sign(MASTER, Identity(PRINTER, "bob", True, int(time.time()) - 5))
    tampered = identity_for(MASTER, PRINTER, "bob", may_act=False).replace(".", "x.", 1)
    wrong_types = forged(own_key, {"p": PRINTER, "u": "bob", "a": "yes", "exp": soon})
    for identity in (other_hub, for_another_printer, renamed, expired, tampered, wrong_types,
                     "garbage", "a.b", "é.é"):  # fmt: skip
        assert status(gated, "GET", "/api/v1/printer", identity) == 403, identity
        assert status(gated, "POST", "/api/v1/job/pause", identity) == 403, identity
    answer = requests.get(
        gated.url + "/api/v1/printer", headers={"X-Fabfleet-Identity": expired}, timeout=30
    )
    assert answer.json() == {"error": "the identity has expired"}


def test_a_view_only_identity_watches_but_does_not_act(gated: Served) -> None:
    viewer = requests.Session()
    viewer.auth = SignedAs("victor", may_act=False)
    assert viewer.get(gated.url + "/api/v1/printer", timeout=30).status_code == 200
    assert viewer.head(gated.url + "/api/v1/printer", timeout=30).status_code == 200
    acts = [("/api/v1/job", {"file": "x.gcode"}), ("/api/v1/terminal", {"line": "M104 S200"}),
            ("/api/v1/job/cancel", None)]  # fmt: skip
    for path, body in acts:
        answer = viewer.post(gated.url + path, json=body, timeout=30)
        assert answer.status_code == 403, path
        assert answer.json()["error"] == "victor may watch this printer, not act on it"
    upload = viewer.post(
        gated.url + "/api/v1/files", files={"file": ("v.gcode", b"G28\n")}, timeout=30
    )
    assert upload.status_code == 403
    assert viewer.delete(gated.url + "/api/v1/files/v.gcode", timeout=30).status_code == 403
    assert not (gated.files_dir / "v.gcode").exists()


def test_a_job_is_recorded_as_started_by_the_identitys_user(gated: Served) -> None:
    short = gcode_head("cube_prusa_marlin2.gcode", 200)
    assert gated.upload("alice.gcode", short, "/api/v1/files").status_code == 201
    assert gated.post("/api/v1/job", json={"file": "alice.gcode"}).status_code == 201
    gated.wait_state("finished", seconds=90)
    assert gated.post("/api/v1/bed/clear").status_code == 200
    jobs = gated.get("/api/v1/history").json()["jobs"]
    assert [(job["file"], job["started_by"]) for job in jobs] == [("alice.gcode", "alice")]


def test_a_key_file_every_user_can_read_is_refused(tmp_path: Path) -> None:
    readable = key_file(tmp_path, 0o644)
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "serve", "--port", "socket://127.0.0.1:9",
         "--data-dir", str(tmp_path / "data"), "--gate-key-file", str(readable)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"run: chmod 600 {readable}" in result.stderr
    missing = tmp_path / "nothing.key"
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "serve", "--port", "socket://127.0.0.1:9",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=30, check=False,
        env={"FABFLEET_GATE_KEY_FILE": str(missing), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{missing}: cannot read the gate key" in result.stderr


def test_me_says_who_the_hub_signed_for_and_whether_they_may_act(gated: Served) -> None:
    """The printer's page asks this to disable what a watcher may not press."""
    viewer = requests.Session()
    viewer.auth = SignedAs("victor", may_act=False)
    answer = viewer.get(gated.url + "/api/v1/me", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user": "victor", "may_act": False}
    assert gated.get("/api/v1/me").json() == {"user": "alice", "may_act": True}
    # Without an identity it says nothing about anyone.
    assert status(gated, "GET", "/api/v1/me") == 401
