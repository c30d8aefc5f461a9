"""Every role, every printer and camera route, watch and act, through the real nginx gate.

The site: three simulated printers (demo-1 with camera cam1, demo-2 in group g2, demo-3 in
g3), the hub, and nginx rendered from the stack's template. Expected rights are written out
by hand here, not computed by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.hub.local_site import LocalSite, local_site

PASSWORD = "correct horse battery"
PRINTERS = ("demo-1", "demo-2", "demo-3")
# user → (role, grants, printers it may watch, printers it may act on, may watch cam1)
USERS: dict[str, tuple[str, dict[str, object], set[str], set[str], bool]] = {
    "boss": ("admin", {}, set(PRINTERS), set(PRINTERS), True),
    "op1": ("operator", {"printers": ["demo-1"]}, {"demo-1"}, {"demo-1"}, True),
    "opg": ("operator", {"groups": ["g2"]}, {"demo-2"}, {"demo-2"}, False),
    "view1": ("viewer", {"printers": ["demo-1"]}, {"demo-1"}, set(), True),
    "viewall": ("viewer", {"every_printer": True}, set(PRINTERS), set(), True),
    "nogrants": ("operator", {}, set(), set(), False),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSite]:
    tmp: Path = tmp_path_factory.mktemp("matrix")
    with local_site(tmp, 3, {"demo-2": ["g2"], "demo-3": ["g3"]}) as running:
        for name, (role, grants, *_rest) in USERS.items():
            running.add_user(name, role, PASSWORD, **grants)
        yield running


@pytest.fixture(scope="module")
def sessions(site: LocalSite) -> dict[str, requests.Session]:
    return {name: site.login(name, PASSWORD) for name in USERS}


def watch(session: requests.Session, site: LocalSite, printer: str) -> int:
    return session.get(f"{site.url}printers/{printer}/api/v1/printer", timeout=10).status_code


def watch_toolpath(session: requests.Session, site: LocalSite, printer: str) -> int:
    """A file's toolpath preview: watching; the print server itself says there is no such file."""
    url = f"{site.url}printers/{printer}/api/v1/files/none.gcode/toolpath"
    return session.get(url, timeout=10).status_code


def me(session: requests.Session, site: LocalSite, printer: str) -> tuple[int, object]:
    """What the printer's page asks to know whether to offer its acts."""
    answer = session.get(f"{site.url}printers/{printer}/api/v1/me", timeout=10)
    return answer.status_code, answer.json()


def act_native(session: requests.Session, site: LocalSite, printer: str) -> int:
    return session.post(f"{site.url}printers/{printer}/api/v1/job/pause", timeout=10).status_code


def act_octoprint(session: requests.Session, site: LocalSite, printer: str) -> int:
    url = f"{site.url}printers/{printer}/api/job"
    return session.post(url, json={"command": "cancel"}, timeout=10).status_code


def act_tune(session: requests.Session, site: LocalSite, printer: str) -> int:
    """Feed-rate overrides act while printing too: 202 wherever the gate lets them through."""
    url = f"{site.url}printers/{printer}/api/v1/printer/overrides"
    return session.post(url, json={"feed_percent": 100}, timeout=10).status_code


def act_octoprint_feedrate(session: requests.Session, site: LocalSite, printer: str) -> int:
    url = f"{site.url}printers/{printer}/api/printer/printhead"
    return session.post(url, json={"command": "feedrate", "factor": 100}, timeout=10).status_code


@pytest.mark.parametrize("user", list(USERS))
def test_each_role_watches_and_acts_only_where_granted(
    site: LocalSite, sessions: dict[str, requests.Session], user: str
) -> None:
    _role, _grants, watched, acted, camera = USERS[user]
    session = sessions[user]
    for printer in PRINTERS:
        assert watch(session, site, printer) == (200 if printer in watched else 403), printer
        assert watch_toolpath(session, site, printer) == (404 if printer in watched else 403)
        if printer in watched:
            assert me(session, site, printer) == (
                200,
                {"user": user, "may_act": printer in acted},
            ), printer
        else:
            assert me(session, site, printer)[0] == 403, printer
        # Allowed through the gate, the print server itself says nothing is printing (409).
        expected_act = 409 if printer in acted else 403
        assert act_native(session, site, printer) == expected_act, printer
        assert act_octoprint(session, site, printer) == expected_act, printer
        assert act_tune(session, site, printer) == (202 if printer in acted else 403), printer
        feedrate = act_octoprint_feedrate(session, site, printer)
        assert feedrate == (204 if printer in acted else 403), printer
    snapshot = session.get(f"{site.url}cameras/cam1/snapshot", timeout=10)
    assert snapshot.status_code == (200 if camera else 403)
    if camera:
        assert snapshot.content.startswith(b"\xff\xd8")


def test_nothing_answers_without_login_but_the_login_page(site: LocalSite) -> None:
    anonymous = requests.Session()
    for printer in PRINTERS:
        assert watch(anonymous, site, printer) == 401
        assert watch_toolpath(anonymous, site, printer) == 401
        assert act_native(anonymous, site, printer) == 401
        assert act_octoprint(anonymous, site, printer) == 401
    assert anonymous.get(f"{site.url}cameras/cam1/snapshot", timeout=10).status_code == 401
    assert anonymous.get(f"{site.url}cameras/cam1/state", timeout=10).status_code == 401
    for path in ("api/fleet", "api/users", "api/queue", "api/history", "api/audit", "api/me"):
        assert anonymous.get(site.url + path, timeout=10).status_code == 401, path
    page = anonymous.get(
        f"{site.url}printers/demo-1/", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert page.status_code == 302
    assert page.headers["Location"].endswith("/login?next=/printers/demo-1/")
    landing = anonymous.get(site.url, allow_redirects=False, timeout=10)
    assert landing.status_code == 302 and landing.headers["Location"].endswith("login")
    assert anonymous.get(site.url + "login", timeout=10).status_code == 200
    assert anonymous.get(site.url + "static/hub.css", timeout=10).status_code == 200


def test_a_cookie_without_the_csrf_token_cannot_act(
    site: LocalSite, sessions: dict[str, requests.Session]
) -> None:
    session = requests.Session()
    session.cookies.update(sessions["boss"].cookies)
    assert act_native(session, site, "demo-1") == 403
    assert watch(session, site, "demo-1") == 200
    session.headers["X-CSRF-Token"] = "not-the-token"
    assert act_native(session, site, "demo-1") == 403


def test_api_keys_pass_the_same_gate_and_a_revoked_one_is_refused(
    site: LocalSite, sessions: dict[str, requests.Session]
) -> None:
    key_id, key = site.api_key("op1", "slicer")
    slicer = requests.Session()
    slicer.headers["X-Api-Key"] = key
    assert watch(slicer, site, "demo-1") == 200
    assert act_octoprint(slicer, site, "demo-1") == 409
    assert watch(slicer, site, "demo-2") == 403
    assert act_octoprint(slicer, site, "demo-2") == 403
    # PrusaSlicer can also send it in the query string.
    query = requests.get(f"{site.url}printers/demo-1/api/version?apikey={key}", timeout=10)
    assert query.status_code == 200 and query.json()["text"].startswith("OctoPrint")
    _, viewer_key = site.api_key("view1", "watch")
    viewer = requests.Session()
    viewer.headers["X-Api-Key"] = viewer_key
    assert watch(viewer, site, "demo-1") == 200
    assert act_octoprint(viewer, site, "demo-1") == 403
    revoked = sessions["op1"].delete(f"{site.url}api/keys/{key_id}", timeout=10)
    assert revoked.status_code in (200, 204)
    assert watch(slicer, site, "demo-1") == 401
    assert act_octoprint(slicer, site, "demo-1") == 401


def _forged(printer: str, key: bytes, act: bool = True) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {"p": printer, "u": "mallory", "a": act, "exp": int(time.time()) + 30}
    payload = b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    derived = hmac.new(key, b"fabfleet-printer:" + printer.encode(), hashlib.sha256).digest()
    return f"{payload}.{b64(hmac.new(derived, payload.encode(), hashlib.sha256).digest())}"


def test_a_client_cannot_bring_its_own_identity(
    site: LocalSite, sessions: dict[str, requests.Session]
) -> None:
    forged = {"X-Fabfleet-Identity": _forged("demo-1", b"\x00" * 32)}
    assert (
        requests.get(f"{site.url}printers/demo-1/api/v1/printer", headers=forged).status_code == 401
    )
    viewer = sessions["view1"]
    answer = viewer.post(f"{site.url}printers/demo-1/api/v1/job/pause", headers=forged)
    assert answer.status_code == 403


def test_a_print_server_reached_around_the_proxy_refuses(site: LocalSite) -> None:
    direct = site.printers["demo-1"]
    assert requests.get(direct + "api/v1/printer", timeout=10).status_code == 401
    wrong_key = {"X-Fabfleet-Identity": _forged("demo-1", b"\x01" * 32)}
    assert requests.get(direct + "api/v1/printer", headers=wrong_key).status_code == 403
    master = bytes.fromhex(site.hub.gate_key().strip())
    other_printer = {"X-Fabfleet-Identity": _forged("demo-2", master)}
    assert requests.get(direct + "api/v1/printer", headers=other_printer).status_code == 403
    right = {"X-Fabfleet-Identity": _forged("demo-1", master)}
    assert requests.get(direct + "api/v1/printer", headers=right).status_code == 200
    assert requests.get(direct + "api/health", timeout=10).status_code == 200


def test_only_an_admin_manages_users(
    site: LocalSite, sessions: dict[str, requests.Session]
) -> None:
    new = {"name": "intruder", "password": PASSWORD, "role": "admin", "grants": {}}
    for user in ("op1", "view1", "viewall"):
        assert sessions[user].post(f"{site.url}api/users", json=new).status_code == 403
        assert sessions[user].get(f"{site.url}api/audit").status_code == 403
    assert sessions["boss"].get(f"{site.url}api/users").status_code == 200


def test_repeated_bad_passwords_lock_the_account(site: LocalSite) -> None:
    site.add_user("target", "viewer", PASSWORD, printers=["demo-1"])
    for _ in range(5):
        answer = requests.post(
            f"{site.url}api/login", json={"username": "target", "password": "wrong password!"}
        )
        assert answer.status_code == 401
    locked = requests.post(
        f"{site.url}api/login", json={"username": "target", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert "Retry-After" in locked.headers


FLEET_ACTIONS: dict[str, dict[str, object]] = {
    "pause": {},
    "resume": {},
    "cancel": {},
    "preheat": {"hotend": 40, "bed": 30},
    "cooldown": {},
}
NOT_ALLOWED = "no such printer, or you may not act on it"


@pytest.mark.parametrize("action", list(FLEET_ACTIONS))
@pytest.mark.parametrize("user", list(USERS))
def test_fleet_actions_act_only_on_printers_the_user_may_act_on(
    site: LocalSite, sessions: dict[str, requests.Session], user: str, action: str
) -> None:
    _role, _grants, _watched, acted, _camera = USERS[user]
    body = {"action": action, "printers": [*PRINTERS, "nope"], **FLEET_ACTIONS[action]}
    answer = sessions[user].post(f"{site.url}api/fleet/actions", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    results = {r["printer"]: r for r in answer.json()["results"]}
    assert list(results) == [*PRINTERS, "nope"]
    for printer in PRINTERS:
        result = results[printer]
        if printer in acted:
            # Let through: the print server did it, or says why not (nothing to pause).
            assert result.get("error") != NOT_ALLOWED, (printer, result)
            if action in ("preheat", "cooldown"):
                assert result["ok"] is True, (printer, result)
        else:
            assert result == {"printer": printer, "ok": False, "error": NOT_ALLOWED}, printer
    # A printer that does not exist reads as one the user may not act on.
    assert results["nope"] == {"printer": "nope", "ok": False, "error": NOT_ALLOWED}


def test_fleet_actions_need_a_login_and_the_csrf_token(
    site: LocalSite, sessions: dict[str, requests.Session]
) -> None:
    body = {"action": "cooldown", "printers": list(PRINTERS)}
    assert requests.post(f"{site.url}api/fleet/actions", json=body).status_code == 401
    forged = requests.Session()
    forged.cookies.update(sessions["boss"].cookies)
    assert forged.post(f"{site.url}api/fleet/actions", json=body).status_code == 403
