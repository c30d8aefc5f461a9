"""The gate (``/api/auth/check``) on a real hub: every role, grant, method and credential;
the signed identity as the print server verifies it; the audit of acts.

Every test runs twice, asked as nginx's ``auth_request`` asks and as Traefik's
``forwardAuth`` asks (traefik/traefik pkg/middlewares/auth/forward.go ``writeHeader``):
one gate, two proxies, the same matrix. What only one proxy does is tested for it alone.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.api_keys import create_key
from hub.auth.rights import Grants
from hub.auth.signing import printer_key, proxy_key, read_master_key
from hub.db import open_database
from instance.web.gate import IdentityRefused, verify
from tests.hub.conftest import BIN, HubProcess, login, printer_entry, start_hub_process

PASSWORD = "correct horse battery"
PROXIES = ("nginx", "traefik")
# What the client asked Traefik for: the host and scheme forwardAuth passes on.
FARM_HOST = "farm.example:8443"
NOWHERE = "http://127.0.0.1:9"


def fleet() -> dict[str, Any]:
    return {
        "site": {"max_heating": 0},
        "printers": [
            printer_entry("p1", NOWHERE, groups=["lab"], camera="cam1"),
            printer_entry("p2", NOWHERE),
            printer_entry("p3", NOWHERE, groups=["lab"]),
        ],
        "cameras": [
            {"name": "cam1", "path": "/cameras/cam1/", "upstream": NOWHERE},
            {"name": "cam2", "path": "/cameras/cam2/", "upstream": NOWHERE},
        ],
    }


@dataclass(frozen=True)
class Case:
    """A user, and what they may do with printer p1."""

    name: str
    role: str
    grants: Grants
    view: bool
    act: bool


def grants(printers: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> Grants:
    return Grants(printers=frozenset(printers), groups=frozenset(groups))


CASES = [
    Case("ada", "admin", grants(), view=True, act=True),
    Case("op-printer", "operator", grants(("p1",)), view=True, act=True),
    Case("op-group", "operator", grants(groups=("lab",)), view=True, act=True),
    Case("op-every", "operator", grants(("*",)), view=True, act=True),
    Case("op-other", "operator", grants(("p2",), ("office",)), view=False, act=False),
    Case("op-none", "operator", grants(), view=False, act=False),
    Case("view-printer", "viewer", grants(("p1",)), view=True, act=False),
    Case("view-group", "viewer", grants(groups=("lab",)), view=True, act=False),
    Case("view-every", "viewer", grants(("*",)), view=True, act=False),
    Case("view-other", "viewer", grants(("p2",)), view=False, act=False),
]


ROUTED = {"printers": {"p1", "p2", "p3"}, "cameras": {"cam1", "cam2"}}


def as_nginx_routes(uri: str) -> tuple[str, str]:
    """(X-Fabfleet-Route, X-Fabfleet-Uri) as the stack's nginx sends them for ``uri``: the
    path decoded, dot segments and repeated slashes resolved; the location it matches."""
    segments: list[str] = []
    path = unquote(uri.partition("?")[0].partition("#")[0])
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    routed = "/" + "/".join(segments) + ("/" if path.endswith("/") and segments else "")
    kind, name = ([*segments, "", ""])[:2]
    if kind not in ROUTED:
        return "", routed
    located = name in ROUTED[kind] and routed.startswith(f"/{kind}/{name}/")
    return f"{kind}/{name if located else ''}", routed


@dataclass
class Gate:
    hub: HubProcess
    master: bytes
    sessions: dict[str, requests.Session]
    keys: dict[str, str]

    # Which proxy's question ask() sends.
    proxy: str = "nginx"

    def question(self, uri: str, method: str = "GET", route: str | None = None) -> dict[str, str]:
        """What the proxy adds to its question about ``uri`` asked with ``method``.

        nginx: its location's route, the path it routes on, the raw URI and the method.
        Traefik: ``X-Forwarded-Method``, ``-Uri`` (``req.URL.RequestURI()``), ``-Host``,
        ``-Proto`` and ``-For``, and no route: ``route`` is nginx's alone. nginx brings the
        proxy key; Traefik cannot, and asks the gate-only listener as the k3s stack does."""
        key = {"X-Fabfleet-Proxy-Key": proxy_key(self.master).hex()}
        if self.proxy == "traefik":
            return {
                "X-Forwarded-Method": method,
                "X-Forwarded-Uri": uri,
                "X-Forwarded-Host": FARM_HOST,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "192.0.2.7",
            }
        nginx_route, routed = as_nginx_routes(uri)
        return {
            **key,
            "X-Fabfleet-Route": nginx_route if route is None else route,
            "X-Fabfleet-Uri": routed,
            "X-Original-URI": uri,
            "X-Original-Method": method,
        }

    def address(self) -> str:
        """Where the proxy asks: nginx the hub's port with its key, Traefik the gate-only
        listener (the k3s stack's Middleware address)."""
        if self.proxy == "traefik":
            assert self.hub.gate_url is not None
            return self.hub.gate_url
        return self.hub.url + "api/auth/check"

    def ask(
        self,
        uri: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        route: str | None = None,
        **kwargs: object,
    ) -> requests.Response:
        """The proxy's question about ``uri``, sent as the proxy sends it: a GET."""
        return requests.get(
            self.address(),
            headers={**self.question(uri, method, route), **(headers or {})},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    def audit(self, **query: str) -> list[dict[str, object]]:
        answer = self.sessions["ada"].get(self.hub.url + "api/audit", params=query, timeout=10)
        return answer.json()["entries"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def hub_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    hub = start_hub_process(
        tmp_path_factory.mktemp("gate"), fleet(), {"FABFLEET_GATE_LISTEN": "127.0.0.1:0"}
    )
    try:
        db = open_database(hub.data_dir / "hub.sqlite", schemas())
        keys: dict[str, str] = {}
        try:
            for case in CASES:
                create_user(db, case.name, PASSWORD, case.role, case.grants)
                keys[case.name] = create_key(db, case.name, "slicer")[1]
        finally:
            db.close()
        sessions = {case.name: login(hub.url, case.name, PASSWORD) for case in CASES}
        yield Gate(hub, read_master_key(hub.data_dir / "gate.key"), sessions, keys)
    finally:
        hub.stop()


@pytest.fixture(params=PROXIES)
def gate(hub_gate: Gate, request: pytest.FixtureRequest) -> Gate:
    """The same hub, asked as one proxy asks."""
    return replace(hub_gate, proxy=str(request.param))


def credentials(gate: Gate, case: Case, how: str, uri: str) -> tuple[str, dict[str, str]]:
    """(uri, headers) that present ``case``'s credentials the way ``how`` says."""
    if how == "cookie":
        session = gate.sessions[case.name]
        cookie = f"fabfleet_session={session.cookies['fabfleet_session']}"
        return uri, {"Cookie": cookie, "X-CSRF-Token": str(session.headers["X-CSRF-Token"])}
    if how == "X-Api-Key":
        return uri, {"X-Api-Key": gate.keys[case.name]}
    if how == "Bearer":
        return uri, {"Authorization": f"Bearer {gate.keys[case.name]}"}
    assert how == "apikey query"
    return uri + f"?print=1&apikey={gate.keys[case.name]}", {}


@pytest.mark.parametrize("how", ["cookie", "X-Api-Key", "Bearer", "apikey query"])
def test_every_role_and_grant_watching_and_acting(gate: Gate, how: str) -> None:
    for case in CASES:
        for method, acting in (("GET", False), ("HEAD", False), ("POST", True), ("DELETE", True)):
            uri, headers = credentials(gate, case, how, "/printers/p1/api/v1/job/pause")
            answer = gate.ask(uri, method, headers)
            allowed = case.act if acting else case.view
            where = f"{case.name} {method} by {how}"
            assert answer.status_code == (200 if allowed else 403), where
            if not allowed:
                error = answer.json()["error"]
                if case.view:
                    assert error.startswith(case.name), where
                else:  # said exactly as for a printer that does not exist
                    assert error == f"no printer named 'p1' that {case.name} may watch", where
                assert "X-Fabfleet-Identity" not in answer.headers, where
                continue
            assert answer.headers["X-Fabfleet-User"] == case.name, where
            identity = verify(
                printer_key(gate.master, "p1"), "p1", answer.headers["X-Fabfleet-Identity"]
            )
            assert identity.user == case.name and identity.printer == "p1", where
            assert identity.may_act == case.act, where
            # An act carries its audit entry's id, for the print server's report.
            assert (identity.act is not None) == acting, where


# name → (printers watched, printers acted on, cameras watched, cameras changed), written
# out by hand: p1 and p3 are in group lab, cam1 is p1's camera, cam2 belongs to no printer.
EVERY_P = {"p1", "p2", "p3"}
MATRIX: dict[str, tuple[set[str], set[str], set[str], set[str]]] = {
    "ada": (EVERY_P, EVERY_P, {"cam1", "cam2"}, {"cam1", "cam2"}),
    "op-printer": ({"p1"}, {"p1"}, {"cam1"}, {"cam1"}),
    "op-group": ({"p1", "p3"}, {"p1", "p3"}, {"cam1"}, {"cam1"}),
    "op-every": (EVERY_P, EVERY_P, {"cam1", "cam2"}, {"cam1"}),
    "op-other": ({"p2"}, {"p2"}, set(), set()),
    "op-none": (set(), set(), set(), set()),
    "view-printer": ({"p1"}, set(), {"cam1"}, set()),
    "view-group": ({"p1", "p3"}, set(), {"cam1"}, set()),
    "view-every": (EVERY_P, set(), {"cam1", "cam2"}, set()),
    "view-other": ({"p2"}, set(), set(), set()),
}


@pytest.mark.parametrize("user", list(MATRIX))
def test_the_security_matrix_every_user_route_kind_and_method(gate: Gate, user: str) -> None:
    watched, acted, cameras, changed = MATRIX[user]
    key = {"X-Api-Key": gate.keys[user]}
    routes = [(f"/printers/{p}/api/v1/job", p in watched, p in acted) for p in sorted(EVERY_P)]
    routes += [(f"/cameras/{c}/stream", c in cameras, c in changed) for c in ("cam1", "cam2")]
    for uri, may_watch, may_change in routes:
        for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"):
            allowed = may_watch if method in ("GET", "HEAD", "OPTIONS") else may_change
            answer = gate.ask(uri, method, key)
            where = f"{gate.proxy}: {user} {method} {uri}"
            assert answer.status_code == (200 if allowed else 403), where
            assert ("X-Fabfleet-Identity" in answer.headers) == (
                allowed and uri.startswith("/printers/")
            ), where
            if allowed:
                assert answer.headers["X-Fabfleet-User"] == user, where
            else:
                assert answer.headers["Content-Type"].startswith("application/json"), where
        # Without credentials: 401 for every route and method, whoever would be allowed.
        assert gate.ask(uri, "GET").status_code == 401
        assert gate.ask(uri, "POST").status_code == 401


def test_no_credentials_is_401(gate: Gate) -> None:
    for method in ("GET", "POST"):
        answer = gate.ask("/printers/p1/", method)
        assert answer.status_code == 401
        assert "log in" in answer.json()["error"]
    for bad in (
        {"X-Api-Key": "ffk_not_a_key"},
        {"Authorization": "Bearer ffk_not_a_key"},
        {"Cookie": "fabfleet_session=made-up"},
    ):
        assert gate.ask("/printers/p1/api/v1/printer", headers=bad).status_code == 401
    assert gate.ask("/printers/p1/?apikey=ffk_nothing").status_code == 401
    assert gate.ask("/cameras/cam1/stream").status_code == 401


def test_a_cookie_must_bring_its_csrf_token_to_act(gate: Gate) -> None:
    session = gate.sessions["ada"]
    cookie = {"Cookie": f"fabfleet_session={session.cookies['fabfleet_session']}"}
    # Watching needs no token: a page's WebSocket or MJPEG stream cannot send one.
    assert gate.ask("/printers/p1/api/v1/events", "GET", cookie).status_code == 200
    refused = gate.ask("/printers/p1/api/v1/job", "POST", cookie)
    assert refused.status_code == 403
    assert refused.json() == {"error": "CSRF token missing or wrong"}
    wrong = gate.ask("/printers/p1/api/v1/job", "POST", {**cookie, "X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    other = str(gate.sessions["op-printer"].headers["X-CSRF-Token"])
    crossed = gate.ask("/printers/p1/api/v1/job", "POST", {**cookie, "X-CSRF-Token": other})
    assert crossed.status_code == 403


def test_asking_with_the_original_method_is_not_refused(gate: Gate) -> None:
    """nginx's auth subrequest keeps the client's method (a POST without body arrives here),
    and so does Traefik's with ``preserveRequestMethod``: the forwarded method decides."""
    session = gate.sessions["op-printer"]
    headers = {
        **gate.question("/printers/p1/api/v1/control/home", "POST"),
        "X-CSRF-Token": str(session.headers["X-CSRF-Token"]),
        "Cookie": f"fabfleet_session={session.cookies['fabfleet_session']}",
    }
    for method in ("POST", "DELETE", "PUT", "PATCH", "HEAD"):
        answer = requests.request(method, gate.address(), headers=headers, timeout=10)
        assert answer.status_code == 200, method


def test_the_identity_is_for_that_printer_only_and_expires(gate: Gate) -> None:
    answer = gate.ask("/printers/p1/", headers={"X-Api-Key": gate.keys["op-group"]})
    header = answer.headers["X-Fabfleet-Identity"]
    now = time.time()
    identity = verify(printer_key(gate.master, "p1"), "p1", header, now=now)
    assert now + 50 < identity.expires <= now + 61
    with pytest.raises(IdentityRefused):
        verify(printer_key(gate.master, "p3"), "p3", header, now=now)
    with pytest.raises(IdentityRefused):
        verify(printer_key(gate.master, "p1"), "p1", header, now=now + 62)
    other = gate.ask("/printers/p3/", headers={"X-Api-Key": gate.keys["op-group"]})
    assert verify(printer_key(gate.master, "p3"), "p3", other.headers["X-Fabfleet-Identity"])


def test_the_printer_is_the_one_nginx_routed_to(hub_gate: Gate) -> None:
    # nginx's own route headers, so asked as nginx only; Traefik has its own tests below.
    gate = replace(hub_gate, proxy="nginx")
    key = {"X-Api-Key": gate.keys["op-printer"]}  # granted p1 only
    assert gate.ask("/printers/p2/../p1/api/v1/job", "POST", key).status_code == 200
    for sneaky in (
        "/printers/p1/../p2/api/v1/job",
        "//printers//p2//api/v1/job",
        "/printers/./p2/api/v1/job",
        "/printers/p1/%2e%2e/p2/api/v1/job",
        "/printers/p1/..%2Fp2/api/v1/job",
    ):
        answer = gate.ask(sneaky, "POST", key)
        assert answer.status_code == 403, sneaky
        assert answer.json()["error"] == "no printer named 'p2' that op-printer may watch", sneaky
    # Routed to p1, but read by the hub (with or without decoding) as another printer or
    # camera: refused, whatever the proxy did.
    for split in (
        "/printers/p2/..%2Fp1/api/v1/job",
        "/printers/p%31/api/v1/job",
        "/cameras/cam2/..%2fcam1/stream",
        "/printers/p1/api/v1/job/cancel#/../../../../../p2/api/v1/job/cancel",
    ):
        answer = gate.ask(split, "GET", key)
        assert answer.status_code == 403, split
        assert "raw URI names another printer" in answer.json()["error"], split
    # A path nginx says it routed to another printer than its location's.
    answer = gate.ask("/printers/p1/api/v1/job", "POST", key, route="printers/p2")
    assert answer.status_code == 403
    # Encoded characters below the printer are the printer's business.
    assert gate.ask("/printers/p1/api/v1/files/a%20b.gcode", "DELETE", key).status_code == 200
    assert gate.ask("/printers/p1/../../etc/passwd", "GET", key).status_code == 400
    assert gate.ask("/printers/../../x", "GET", key).status_code == 400


def test_only_the_proxy_may_ask(gate: Gate) -> None:
    key = {"X-Api-Key": gate.keys["ada"]}
    asked = gate.ask("/printers/p1/api/v1/job", "POST", key)
    assert asked.status_code == 200
    for proxy_key_given in ({}, {"X-Fabfleet-Proxy-Key": "0" * 64}):
        headers = {**gate.question("/printers/p1/api/v1/job", "POST"), **key}
        headers.pop("X-Fabfleet-Proxy-Key", None)
        answer = requests.get(
            gate.hub.url + "api/auth/check", headers={**headers, **proxy_key_given}, timeout=10
        )
        assert answer.status_code == 404
        assert "X-Fabfleet-Identity" not in answer.headers


def test_the_gate_only_listener_answers_the_gate_and_nothing_else(hub_gate: Gate) -> None:
    """What reaches the gate-only listener is the proxy's question; nothing else is there:
    not the login, not the API, not the pages (a 404 before anyone looks at credentials)."""
    assert hub_gate.hub.gate_url is not None
    listener = hub_gate.hub.gate_url.removesuffix("api/auth/check")
    session = hub_gate.sessions["ada"]
    for method, path in (
        ("GET", ""),
        ("GET", "api/me"),
        ("GET", "api/audit"),
        ("POST", "api/login"),
        ("GET", "api/auth/check/"),
        ("GET", "healthz"),
    ):
        answer = session.request(method, listener + path, timeout=10)
        assert answer.status_code == 404, (method, path)
    assert requests.get(hub_gate.hub.url + "api/me", cookies=session.cookies).status_code == 200
    # The same question on the hub's own port without the key is the 404 of no such path.
    traefik_question = traefik(hub_gate).question("/printers/p1/")
    key = {"X-Api-Key": hub_gate.keys["ada"]}
    assert (
        requests.get(
            hub_gate.hub.gate_url, headers={**traefik_question, **key}, timeout=10
        ).status_code
        == 200
    )
    assert (
        requests.get(
            hub_gate.hub.url + "api/auth/check", headers={**traefik_question, **key}, timeout=10
        ).status_code
        == 404
    )


def test_unknown_printers_cameras_and_paths(gate: Gate) -> None:
    key = {"X-Api-Key": gate.keys["ada"]}
    assert gate.ask("/printers/nope/", headers=key).status_code == 403
    assert gate.ask("/cameras/nope/stream", headers=key).status_code == 403
    assert gate.ask("/printers/p1", headers=key).status_code == 403  # not below the printer
    assert gate.ask("/elsewhere/", headers=key).status_code == 400  # no proxy asks this
    proxy = {"X-Fabfleet-Proxy-Key": proxy_key(gate.master).hex()}
    missing = requests.get(gate.hub.url + "api/auth/check", headers={**key, **proxy}, timeout=10)
    assert missing.status_code == 400 and "X-Original-URI" in missing.json()["error"]
    assert "X-Forwarded-Uri" in missing.json()["error"]
    if gate.proxy == "nginx":
        # A name nginx has no location for, even one in fleet.json (nginx not yet reloaded).
        assert gate.ask("/printers/p1/", headers=key, route="printers/").status_code == 403


def test_cameras_follow_their_printer(gate: Gate) -> None:
    for case in CASES:
        headers = {"X-Api-Key": gate.keys[case.name]}
        cam1 = gate.ask("/cameras/cam1/stream", headers=headers)
        assert cam1.status_code == (200 if case.view else 403), case.name
        assert "X-Fabfleet-Identity" not in cam1.headers
        # A camera of no printer: admins and users granted every printer only.
        cam2 = gate.ask("/cameras/cam2/snapshot", headers=headers)
        everything = case.role == "admin" or "*" in case.grants.printers
        assert cam2.status_code == (200 if everything else 403), case.name


def test_acting_requests_are_audited_by_name(gate: Gate) -> None:
    key = {"X-Api-Key": gate.keys["op-printer"]}
    expected = [
        ("POST", "/printers/p1/api/v1/files", "upload"),
        ("POST", "/printers/p1/api/v1/job", "print"),
        ("POST", "/printers/p1/api/v1/job/pause", "pause"),
        ("POST", "/printers/p1/api/v1/job/resume", "resume"),
        ("POST", "/printers/p1/api/v1/job/cancel", "cancel"),
        ("POST", "/printers/p1/api/v1/bed/clear", "bed clear"),
        ("POST", "/printers/p1/api/v1/terminal", "terminal"),
        ("POST", "/printers/p1/api/v1/control/home", "control:home"),
        ("DELETE", "/printers/p1/api/v1/files/benchy.gcode", "delete file"),
        ("POST", "/printers/p1/api/files/local", "upload"),
        ("DELETE", "/printers/p1/api/files/local/cube.gcode", "delete file"),
        ("POST", "/printers/p1/api/job", "octoprint job command"),
    ]
    since = str(time.time())
    for method, uri, _action in expected:
        assert gate.ask(uri, method, key).status_code == 200, uri
    # Watching is not written down.
    assert gate.ask("/printers/p1/api/v1/printer", "GET", key).status_code == 200
    entries = gate.audit(user="op-printer", printer="p1", since=since, limit="50")
    assert [e["action"] for e in reversed(entries)] == [a for _m, _u, a in expected]
    deleted = next(e for e in entries if "benchy" in str(e["detail"]))
    assert deleted["action"] == "delete file"
    # A refused act is written down as refused.
    viewer = {"X-Api-Key": gate.keys["view-printer"]}
    assert gate.ask("/printers/p1/api/v1/job/cancel", "POST", viewer).status_code == 403
    refused = gate.audit(user="view-printer", printer="p1", since=since)
    assert [e["action"] for e in refused] == ["refused cancel"]


def test_a_revoked_key_is_refused_by_the_gate_at_once(gate: Gate) -> None:
    db = open_database(gate.hub.data_dir / "hub.sqlite", schemas())
    try:
        key_id, key = create_key(db, "op-printer", "short-lived")
    finally:
        db.close()
    headers = {"X-Api-Key": key}
    assert gate.ask("/printers/p1/", headers=headers).status_code == 200
    session = gate.sessions["op-printer"]
    assert session.delete(gate.hub.url + f"api/keys/{key_id}", timeout=10).status_code == 200
    assert gate.ask("/printers/p1/", headers=headers).status_code == 401


def test_a_fleet_change_is_seen_by_the_next_check(gate: Gate) -> None:
    key = {"X-Api-Key": gate.keys["ada"]}
    unknown = gate.ask("/printers/p4/", headers=key, route="printers/p4")
    assert unknown.status_code == 403
    assert unknown.json()["error"] == "no printer named 'p4' that ada may watch"
    changed = fleet()
    changed["printers"] = [*changed["printers"], printer_entry("p4", NOWHERE)]
    gate.hub.write_fleet(changed)
    deadline = time.monotonic() + 60
    while gate.ask("/printers/p4/", headers=key, route="printers/p4").status_code != 200:
        assert time.monotonic() < deadline, "the gate did not see the new printer"
        time.sleep(0.1)
    gate.hub.write_fleet(fleet())


# Traefik's forwardAuth alone: its one answer goes to the client as it is (forward.go: any
# status outside 2xx, its body and headers, Location resolved against the auth address).


def traefik(gate: Gate) -> Gate:
    return replace(gate, proxy="traefik")


def as_nginx(gate: Gate) -> Gate:
    return replace(gate, proxy="nginx")


BROWSER = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}


def test_forward_auth_sends_a_browser_to_the_login_itself(hub_gate: Gate) -> None:
    gate = traefik(hub_gate)
    page = gate.ask("/printers/p1/", headers=BROWSER, allow_redirects=False)
    assert page.status_code == 302
    # The same end result as nginx's error_page (its explaining ask), made absolute so
    # Traefik does not resolve it against the hub's address inside the cluster.
    explained = as_nginx(hub_gate).ask(
        "/printers/p1/",
        headers={**BROWSER, "X-Fabfleet-Gate": "explain"},
        allow_redirects=False,
    )
    assert explained.status_code == 302
    assert explained.headers["Location"] == "/login?next=/printers/p1/"
    assert page.headers["Location"] == f"https://{FARM_HOST}/login?next=/printers/p1/"
    expired = gate.ask(
        "/cameras/cam1/stream?x=1",
        headers={**BROWSER, "Cookie": "fabfleet_session=gone"},
        allow_redirects=False,
    )
    assert expired.status_code == 302
    assert expired.headers["Location"] == (
        f"https://{FARM_HOST}/login?next=/cameras/cam1/stream%3Fx%3D1&reason=expired"
    )
    # Scripts and API clients keep the JSON 401, as behind nginx.
    for headers, method in (
        ({"Accept": "application/json"}, "GET"),
        ({**BROWSER, "X-Api-Key": "ffk_not_a_key"}, "GET"),
        ({**BROWSER, "Sec-Fetch-Mode": "cors"}, "GET"),
        (BROWSER, "POST"),
    ):
        answer = gate.ask("/printers/p1/api/v1/job", method, headers, allow_redirects=False)
        assert answer.status_code == 401, (headers, method)
        assert "log in" in answer.json()["error"]
        assert "Location" not in answer.headers


def test_forward_auth_shows_a_browser_the_not_allowed_page_and_records_it(
    hub_gate: Gate,
) -> None:
    gate = traefik(hub_gate)
    session = gate.sessions["view-other"]
    cookie = {"Cookie": f"fabfleet_session={session.cookies['fabfleet_session']}"}
    page = gate.ask("/printers/p1/", headers={**BROWSER, **cookie})
    assert page.status_code == 403
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Not allowed" in page.text and "view-other" in page.text
    script = gate.ask("/printers/p1/", headers={"Accept": "application/json", **cookie})
    assert script.status_code == 403
    assert script.json() == {"error": "no printer named 'p1' that view-other may watch"}
    # One ask, no explaining second one: a refused act is written down once, as behind nginx.
    since = str(time.time())
    viewer = {"X-Api-Key": gate.keys["view-printer"]}
    assert gate.ask("/printers/p1/api/v1/job/pause", "POST", viewer).status_code == 403
    refused = gate.audit(user="view-printer", printer="p1", since=since)
    assert [e["action"] for e in refused] == ["refused pause"]


def test_forward_auth_paths_must_name_their_printer_plainly(hub_gate: Gate) -> None:
    """Traefik routes on the prefix ``/printers/<name>/`` and the hub never sees how: any
    path whose printer or camera is not plainly that prefix's is refused, never signed."""
    gate = traefik(hub_gate)
    key = {"X-Api-Key": gate.keys["op-printer"]}  # granted p1 only
    for sneaky in (
        "/printers/p2/../p1/api/v1/job",
        "/printers/p1/../p2/api/v1/job",
        "//printers//p1//api/v1/job",
        "/printers/./p1/api/v1/job",
        "/printers/p1/%2e%2e/p2/api/v1/job",
        "/printers/p1/..%2Fp2/api/v1/job",
        "/printers/p2/..%2Fp1/api/v1/job",
        "/printers/p%31/api/v1/job",
        "/printers/p1/api/v1/job/cancel%23/../../../../../p2/api/v1/job/cancel",
        "/cameras/cam2/..%2fcam1/stream",
        "/printers/p1",
        "/printers/p1/../../etc/passwd",
        "/printers/../../x",
    ):
        for method in ("GET", "POST"):
            answer = gate.ask(sneaky, method, key)
            assert answer.status_code == 403, (sneaky, method)
            assert "error" in answer.json()
            assert "X-Fabfleet-Identity" not in answer.headers, sneaky
    # Encoded characters below the printer are the printer's business.
    assert gate.ask("/printers/p1/api/v1/files/a%20b.gcode", "DELETE", key).status_code == 200
    assert gate.ask("/printers/p1/api/v1/printer?x=/../p2/", "GET", key).status_code == 200


def test_forward_auth_ignores_nginxs_headers_a_client_sent(hub_gate: Gate) -> None:
    """Traefik without ``authRequestHeaders`` copies every client header: a client's
    X-Fabfleet-Route or -Uri does not change which printer is decided on."""
    gate = traefik(hub_gate)
    key = {"X-Api-Key": gate.keys["op-printer"]}
    forged = {**key, "X-Fabfleet-Route": "printers/p1", "X-Fabfleet-Uri": "/printers/p1/"}
    answer = gate.ask("/printers/p2/api/v1/job", "POST", forged)
    assert answer.status_code == 403
    assert answer.json()["error"] == "no printer named 'p2' that op-printer may watch"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"X-Forwarded-Uri": None}, "X-Forwarded-Uri is missing"),
        ({"X-Forwarded-Uri": ""}, "X-Forwarded-Uri is missing"),
        ({"X-Forwarded-Method": None}, "X-Forwarded-Method is missing"),
        ({"X-Forwarded-Method": "P OST"}, "X-Forwarded-Method is missing or not"),
        ({"X-Forwarded-Uri": "printers/p1/"}, "must be a path beginning with /"),
        ({"X-Forwarded-Uri": "/elsewhere/"}, "must lie below /printers/<name>/"),
        ({"X-Original-URI": "/printers/p2/"}, "one came from a client"),
    ],
)
def test_forward_auth_bad_questions_get_a_clear_400(
    hub_gate: Gate, change: dict[str, str | None], says: str
) -> None:
    gate = traefik(hub_gate)
    headers: dict[str, str] = {
        **gate.question("/printers/p1/api/v1/printer"),
        "X-Api-Key": gate.keys["ada"],
    }
    for name, value in change.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    answer = requests.get(gate.address(), headers=headers, timeout=10)
    assert answer.status_code == 400, change
    assert answer.headers["Content-Type"].startswith("application/json")
    assert says in answer.json()["error"], answer.json()
    assert "X-Fabfleet-Identity" not in answer.headers


def test_forward_auth_an_overlong_uri_is_refused_not_crashed(hub_gate: Gate) -> None:
    """Longer than a header may be: the hub's HTTP server itself answers 400."""
    gate = traefik(hub_gate)
    headers = {**gate.question("/printers/p1/" + "a" * 17000), "X-Api-Key": gate.keys["ada"]}
    answer = requests.get(gate.address(), headers=headers, timeout=10)
    assert answer.status_code == 400
    assert "X-Fabfleet-Identity" not in answer.headers
    assert gate.ask("/printers/p1/", headers={"X-Api-Key": gate.keys["ada"]}).status_code == 200


def test_forward_auth_without_a_usable_host_cannot_redirect(hub_gate: Gate) -> None:
    gate = traefik(hub_gate)
    for change in (
        {"X-Forwarded-Host": "evil.example/path"},
        {"X-Forwarded-Host": ""},
        {"X-Forwarded-Proto": "javascript"},
    ):
        headers = {**gate.question("/printers/p1/"), **BROWSER, **change}
        answer = requests.get(gate.address(), headers=headers, allow_redirects=False, timeout=10)
        assert answer.status_code == 400, change
        assert "X-Forwarded-Host" in answer.json()["error"]
    # An API client needs no redirect, so no host.
    headers = {**gate.question("/printers/p1/"), "X-Forwarded-Host": "", **BROWSER}
    headers["X-Api-Key"] = gate.keys["ada"]
    assert requests.get(gate.address(), headers=headers).status_code == 200


def test_nginx_with_a_clients_x_forwarded_uri_is_refused_not_guessed(hub_gate: Gate) -> None:
    """nginx passes a client's own X-Forwarded-Uri on: with its X-Original-URI, neither counts."""
    gate = as_nginx(hub_gate)
    key = {"X-Api-Key": gate.keys["ada"]}
    answer = gate.ask("/printers/p1/", headers={**key, "X-Forwarded-Uri": "/printers/p1/"})
    assert answer.status_code == 400
    assert "one came from a client" in answer.json()["error"]


@pytest.mark.parametrize(
    ("gate_listen", "says"),
    [
        ("127.0.0.1:http", "gate listen address '127.0.0.1:http' is not HOST:PORT"),
        ("127.0.0.1:70000", "gate listen address '127.0.0.1:70000': no such port"),
        ("127.0.0.1:8091", "gate listen address '127.0.0.1:8091': the hub listens on that port"),
    ],
)
def test_a_gate_listener_that_cannot_work_is_refused_at_start(
    tmp_path: Path, gate_listen: str, says: str
) -> None:
    (tmp_path / "fleet.json").write_text(json.dumps({"printers": [], "cameras": []}))
    started = subprocess.run(
        [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(tmp_path),
         "--listen", "127.0.0.1:8091", "--gate-listen", gate_listen],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode != 0
    assert says in started.stderr
    assert not (tmp_path / "hub.sqlite").exists()
