"""Issue 19, each finding as a regression test through the real nginx of the stack's template:
one reading of the URI (raw requests that curl or requests would rewrite), the audit written
from what the print server did, the gate reachable only from nginx, the login's `next`, the
printer WebSocket's Origin, keys kept out of nginx's log, X-Forwarded-Host set by nginx,
no enumeration of printer names, and the lockout not fooled by X-Forwarded-For.

The site is the security matrix's (tests/hub/local_site.py): demo-1 (camera cam1), demo-2,
demo-3, the hub and nginx rendered from the stack's template.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests

from tests import raw_http
from tests.hub.local_site import LocalSite, local_site

PASSWORD = "correct horse battery"
CANCEL = "/api/v1/job/cancel"
# Deadline for the print server's report to reach the audit log (it takes milliseconds).
SETTLE_SECONDS = 20.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSite]:
    tmp: Path = tmp_path_factory.mktemp("hardening")
    with local_site(tmp, 3, {}) as running:
        running.add_user("boss", "admin", PASSWORD)
        running.add_user("oper1", "operator", PASSWORD, printers=["demo-1"])
        running.add_user("view1", "viewer", PASSWORD, printers=["demo-1"])
        yield running


@pytest.fixture(scope="module")
def users(site: LocalSite) -> dict[str, requests.Session]:
    return {name: site.login(name, PASSWORD) for name in ("boss", "oper1", "view1")}


def raw(site: LocalSite, line: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    return raw_http.raw(site.url, line, headers)


def credentials(session: requests.Session) -> dict[str, str]:
    """A logged-in browser's cookie and CSRF token, for raw requests."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return {"Cookie": cookies, "X-CSRF-Token": str(session.headers["X-CSRF-Token"])}


def audit(site: LocalSite, boss: requests.Session, **query: str) -> list[dict[str, object]]:
    answer = boss.get(site.url + "api/audit", params={"limit": "100", **query}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# --- 1. one reading of the URI; the audit from what the print server did -------------


def test_a_fragment_that_climbs_to_another_printer_is_refused_and_recorded_where_it_went(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    since = str(time.time())
    climb = "#/../../../../../demo-1" + CANCEL
    # oper1 may act on demo-1 only; nginx routes this to demo-2 (the '#' ends its path).
    status, body = raw(site, f"POST /printers/demo-2{CANCEL}{climb} HTTP/1.1", credentials(
        users["oper1"]))  # fmt: skip
    assert status == 403, body
    entries = audit(site, users["boss"], since=since, user="oper1")
    assert [(e["action"], e["printer"]) for e in entries] == [("refused cancel", "demo-2")]
    # The admin may act anywhere, and is refused all the same: nginx and the raw URI disagree.
    status, body = raw(site, f"POST /printers/demo-2{CANCEL}{climb} HTTP/1.1", credentials(
        users["boss"]))  # fmt: skip
    assert status == 403 and b"raw URI names another printer" in body, body
    entries = audit(site, users["boss"], since=since, user="boss", printer="demo-2")
    assert [e["action"] for e in entries] == ["refused cancel"]
    assert "raw URI" in str(entries[0]["detail"])
    # Nothing was written, or done, on demo-1.
    assert audit(site, users["boss"], since=since, printer="demo-1") == []


def test_a_viewer_gets_no_identity_for_a_printer_nginx_did_not_route_to(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    since = str(time.time())
    split = "/printers/demo-2/api/v1/printer#/../../../../demo-1/api/v1/printer"
    status, body = raw(site, f"GET {split} HTTP/1.1", credentials(users["view1"]))
    assert status == 403, body
    assert b"no printer named 'demo-2' that view1 may watch" in body
    # Boss's watch of the same split is refused and written down on demo-2.
    status, _ = raw(site, f"GET {split} HTTP/1.1", credentials(users["boss"]))
    assert status == 403
    entries = audit(site, users["boss"], since=since, user="boss")
    assert [(e["action"], e["printer"]) for e in entries] == [("refused watch", "demo-2")]


@pytest.mark.parametrize(
    "path",
    [
        "/printers/demo-2/..%2Fdemo-1/api/v1/printer",
        "/printers/demo-1/..%2Fdemo-2/api/v1/printer",
        "/printers/demo-%31/api/v1/printer",
        "/printers/demo-1/%2e%2e/demo-2/api/v1/printer",
        "/printers/demo-1/x%0D%0AX-Fabfleet-Route:%20printers/demo-2/api/v1/printer",
        "/printers/demo-1/api/v1/printer%00",
    ],
)
def test_encoded_paths_never_reach_another_printer(
    site: LocalSite, users: dict[str, requests.Session], path: str
) -> None:
    """oper1 may watch demo-1 only: whatever nginx makes of these, no 200."""
    status, body = raw(site, f"GET {path} HTTP/1.1", credentials(users["oper1"]))
    assert status in (400, 403, 404), (status, body)


def test_the_audit_says_what_the_print_server_did(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    oper = users["oper1"]
    since = str(time.time())
    # Nothing prints: the gate lets the pause through, the print server refuses it.
    pause = oper.post(f"{site.url}printers/demo-1/api/v1/job/pause", timeout=10)
    assert pause.status_code == 409, pause.text

    def pause_settled() -> bool:
        found = audit(site, users["boss"], since=since, action="pause")
        return len(found) == 1 and found[0]["outcome"] == "refused"

    wait_for(pause_settled, "the print server's refusal of the pause was not recorded")
    entry = audit(site, users["boss"], since=since, action="pause")[0]
    assert (entry["user"], entry["printer"], entry["status"]) == ("oper1", "demo-1", 409)
    # A print it starts is recorded as done.
    job = oper.post(
        f"{site.url}printers/demo-1/api/v1/job", json={"file": "cube_slic3r.gcode"}, timeout=10
    )
    assert job.status_code == 201, job.text
    wait_for(
        lambda: (
            [e["outcome"] for e in audit(site, users["boss"], since=since, action="print")]
            == ["done"]
        ),
        "the print's start was not recorded as done",
    )
    cancel = oper.post(f"{site.url}printers/demo-1{CANCEL}", timeout=10)
    assert cancel.status_code in (200, 202), cancel.text
    wait_for(
        lambda: (
            [e["outcome"] for e in audit(site, users["boss"], since=since, action="cancel")]
            == ["done"]
        ),
        "the cancel was not recorded as done",
    )
    csv = users["boss"].get(site.url + "api/audit.csv", params={"since": since}, timeout=10)
    assert csv.text.splitlines()[0] == "time,user,action,printer,detail,outcome,status,summary"


# --- 2. the gate answers nginx only -------------------------------------------------


def test_a_client_cannot_ask_the_gate(site: LocalSite, users: dict[str, requests.Session]) -> None:
    asked = {
        "X-Original-URI": "/printers/demo-1/api/v1/job/cancel",
        "X-Original-Method": "POST",
        "X-Fabfleet-Route": "printers/demo-1",
        "X-Fabfleet-Uri": "/printers/demo-1/api/v1/job/cancel",
    }
    since = str(time.time())
    for method in ("GET", "POST"):
        through_proxy = users["oper1"].request(
            method, site.url + "api/auth/check", headers=asked, timeout=10
        )
        assert through_proxy.status_code == 404
        assert "X-Fabfleet-Identity" not in through_proxy.headers
        # The hub itself refuses it too, without the proxy's key.
        direct = users["oper1"].request(
            method, site.hub.url + "api/auth/check", headers=asked, timeout=10
        )
        assert direct.status_code == 404
        assert "X-Fabfleet-Identity" not in direct.headers
    status, _ = raw(site, "GET /api/auth/check?x=1 HTTP/1.1", credentials(users["oper1"]))
    assert status == 404
    status, _ = raw(site, "GET /api/auth/../auth/check HTTP/1.1", credentials(users["oper1"]))
    assert status == 404
    assert audit(site, users["boss"], since=since, user="oper1") == []


# --- 3. login's next -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "goes"),
    [
        ("/printers/demo-1/", "/printers/demo-1/"),
        ("/#keys", "/#keys"),
        ("/\t/evil.example/x", "./"),
        ("/\n/evil.example/x", "./"),
        ("/%09/evil.example/x", "./"),
        ("/%0A/evil.example/x", "./"),
        ("//evil.example/x", "./"),
        ("/\\evil.example/x", "./"),
        ("/%5Cevil.example/x", "./"),
        ("\\/evil.example", "./"),
        ("https://evil.example/", "./"),
        ("javascript:alert(1)", "./"),
        (" //evil.example", "./"),
        ("", "./"),
    ],
)
def test_login_goes_on_only_to_a_path_of_this_site(site: LocalSite, given: str, goes: str) -> None:
    answer = requests.post(
        site.url + "api/login",
        json={"username": "view1", "password": PASSWORD, "next": given},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["next"] == goes
    # The page sends `next` as the browser decoded it from its own address.
    login_page = requests.get(site.url + "login?next=" + quote(given, safe=""), timeout=10)
    assert login_page.status_code == 200


# --- 4. the printer's WebSocket and Origin -----------------------------------------


def handshake(site: LocalSite, session: requests.Session, origin: str | None) -> int:
    return raw_http.handshake(
        site.url, "/printers/demo-1/api/v1/events", credentials(session), origin
    )


def test_the_printer_stream_refuses_another_sites_page(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    mine = site.url.rstrip("/")
    assert handshake(site, users["view1"], mine) == 101
    assert handshake(site, users["view1"], None) == 101
    for foreign in ("http://evil.example", f"http://evil.example:{urlsplit(mine).port}",
                    "http://127.0.0.1:1", "null"):  # fmt: skip
        assert handshake(site, users["view1"], foreign) == 403, foreign


# --- 5. logs, forwarded headers, enumeration, lockout ---------------------------------


def test_keys_in_a_query_never_reach_nginxs_log(site: LocalSite) -> None:
    _key_id, key = site.api_key("oper1", "slicer")
    answer = requests.get(
        f"{site.url}printers/demo-1/api/version?apikey={key}",
        headers={"Referer": f"{site.url}printers/demo-1/?apikey={key}"},
        timeout=10,
    )
    assert answer.status_code == 200
    wrong = requests.get(f"{site.url}printers/demo-1/api/version?apikey={key}x", timeout=10)
    assert wrong.status_code == 401
    log = site.proxy_dir / "access.log"
    wait_for(lambda: "/printers/demo-1/api/version" in log.read_text(), "nothing logged")
    text = log.read_text()
    assert key not in text
    assert "apikey" not in text


def test_x_forwarded_host_is_nginxs_own(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    answer = users["view1"].get(
        f"{site.url}printers/demo-1/api/files",
        headers={"X-Forwarded-Host": "evil.example"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    refs = [f["refs"]["download"] for f in answer.json()["files"]]
    assert refs and all(r.startswith(site.url + "printers/demo-1/") for r in refs), refs


def test_unknown_and_forbidden_printers_answer_alike(
    site: LocalSite, users: dict[str, requests.Session]
) -> None:
    def both(session: requests.Session, path: str, **kwargs: object) -> list[tuple[int, str]]:
        seen = []
        for name in ("demo-2", "no-such-printer"):
            answer = session.get(
                f"{site.url}printers/{name}/{path}",
                allow_redirects=False,
                timeout=10,
                **kwargs,  # type: ignore[arg-type]
            )
            seen.append((answer.status_code, answer.text.replace(name, "NAME")))
        return seen

    anonymous = requests.Session()
    for path in ("api/v1/printer", "", "api/version"):
        first, second = both(anonymous, path)
        assert first == second and first[0] == 401, (path, first, second)
    html = both(anonymous, "", headers={"Accept": "text/html"})
    assert [status for status, _ in html] == [302, 302]
    for path in ("api/v1/printer", "api/v1/job/pause"):
        first, second = both(users["view1"], path)
        assert first == second and first[0] == 403, (path, first, second)
        assert "no printer named 'NAME' that view1 may watch" in first[1]
    cameras = [
        requests.get(f"{site.url}cameras/{name}/snapshot", timeout=10)
        for name in ("cam1", "no-such-camera")
    ]
    assert [c.status_code for c in cameras] == [401, 401]


def test_x_forwarded_for_from_a_client_does_not_get_round_the_lockout(site: LocalSite) -> None:
    site.add_user("locked-out", "viewer", PASSWORD, printers=["demo-1"])
    # Twenty failures, each under another user name and another made-up client address.
    for attempt in range(20):
        wrong = requests.post(
            site.url + "api/login",
            json={"username": f"nobody-{attempt}", "password": "not the password"},
            headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
            timeout=30,
        )
        assert wrong.status_code == 401, attempt
    locked = requests.post(
        site.url + "api/login",
        json={"username": "locked-out", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.7"},
        timeout=30,
    )
    assert locked.status_code == 429, locked.text
