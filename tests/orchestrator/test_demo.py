"""`fabfleet demo`: the whole product on 127.0.0.1, started and stopped as a user does."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from orchestrator.demo.runtime import UnixConnection
from tests.orchestrator.umockdev import FABFLEET


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for start in range(18200, 19000, count):
        sockets = []
        try:
            for port in range(start, start + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise AssertionError("no free ports")


UNIX = "http://unix:"


def socket_of(url: str) -> Path:
    """The socket file of an upstream named as nginx names one (http://unix:PATH:/)."""
    assert url.startswith(UNIX), url
    return Path(url.removeprefix(UNIX).rstrip("/").removesuffix(":"))


def listening(url: str) -> bool:
    if url.startswith(UNIX):
        return socket_of(url).exists()
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def status_on_socket(url: str, path: str, headers: dict[str, str] | None = None) -> int:
    connection = UnixConnection(str(socket_of(url)))
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


@dataclass
class RunningDemo:
    """A started `fabfleet demo`: what it printed, parsed."""

    process: subprocess.Popen[str]
    lines: list[str]
    site: str
    password: str
    servers: dict[str, str]


def start_demo(tmp_path: Path, printers: int) -> RunningDemo:
    port = free_ports(1)
    demo = subprocess.Popen(
        [str(FABFLEET), "demo", "--printers", str(printers), "--port", str(port),
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert demo.stdout is not None
    lines = [demo.stdout.readline() for _ in range(printers + 4)]
    servers = {}
    for index, line in enumerate(lines[1 : printers + 1], start=1):
        found = re.fullmatch(
            rf"demo-{index}: print server on (http://unix:/\S+/demo-{index}\.sock:/)  "
            rf"\(simulated Marlin on /\S+/demo-{index}\.tty\)\n",
            line,
        )
        servers[f"demo-{index}"] = found[1] if found else ""
    said = re.fullmatch(
        r"log in as admin with password (\S+)  \(new each run, shown only here\)\n",
        lines[printers + 2],
    )
    password = said[1] if said else ""
    return RunningDemo(demo, lines, f"http://127.0.0.1:{port}", password, servers)


def stop_demo(demo: RunningDemo) -> tuple[int, str, str]:
    demo.process.send_signal(signal.SIGINT)
    try:
        out, errors = demo.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # Not stopped by Ctrl-C: SIGTERM (which it also handles) so that no hub, print server
        # or simulator outlives the test, then fail.
        demo.process.terminate()
        try:
            demo.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            demo.process.kill()
            demo.process.communicate()
        raise AssertionError("the demo did not stop within 30 s of Ctrl-C") from None
    return demo.process.returncode, out, errors


def test_the_demo_runs_the_hub_the_proxy_and_printers_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    demo = start_demo(tmp_path, 2)
    lines, site, password, servers = demo.lines, demo.site, demo.password, demo.servers
    try:
        assert lines[0] == "starting 2 simulated printers (moves and heating 20x faster)\n"
        assert all(servers.values()), lines
        # Only nginx listens on a port: the hub and the print servers on Unix sockets, the
        # simulators on ptys, in one directory only the demo's user may enter.
        hub = re.fullmatch(r"hub: (http://unix:/\S+/hub\.sock:/)\n", lines[3])
        assert hub, lines[3]
        private = socket_of(hub[1]).parent
        assert private.stat().st_mode & 0o777 == 0o700
        assert {socket_of(url).parent for url in servers.values()} == {private}
        assert password, lines[4]
        assert lines[5] == f"open {site}/ ; Ctrl-C stops the demo\n"

        assert requests.get(f"{site}/api/health", timeout=10).status_code == 200
        printer_api = f"{site}/printers/demo-1/api/v1/printer"
        # Not logged in: the API says 401, a browser is sent to the login page.
        assert requests.get(printer_api, timeout=10).status_code == 401
        page = requests.get(
            f"{site}/printers/demo-1/", headers={"Accept": "text/html"},
            allow_redirects=False, timeout=10,
        )  # fmt: skip
        # To the hub's login page (nginx may name it with or without the site's address).
        assert (page.status_code, page.headers["Location"].removeprefix(site)) == (
            302, "/login?next=/printers/demo-1/",
        )  # fmt: skip
        # A print server reached around the proxy does nothing without the hub's identity.
        for url in servers.values():
            assert status_on_socket(url, "/api/v1/printer") == 401
            forged = {"X-Fabfleet-Identity": "e30.c2lnbmF0dXJl"}
            assert status_on_socket(url, "/api/v1/files", forged) == 403
        # Nor does the gate answer anyone but nginx.
        assert requests.get(f"{site}/api/auth/check", timeout=10).status_code == 404
        assert status_on_socket(hub[1], "/api/auth/check") == 404

        browser = requests.Session()
        wrong = browser.post(
            f"{site}/api/login", json={"username": "admin", "password": "not-it-at-all"},
            timeout=10,
        )  # fmt: skip
        assert wrong.status_code == 401
        login = browser.post(
            f"{site}/api/login", json={"username": "admin", "password": password}, timeout=10
        )
        assert login.status_code == 200, login.text
        assert login.json()["role"] == "admin"
        expected_presets = {"demo-1": ["PLA", "PETG"], "demo-2": ["PLA", "PETG", "ABS", "ASA"]}
        for name in ("demo-1", "demo-2"):
            printer = browser.get(f"{site}/printers/{name}/api/v1/printer", timeout=10)
            assert printer.status_code == 200, printer.text
            assert (printer.json()["name"], printer.json()["state"]) == (name, "ready")
            # Each demo printer has a profile: its materials are its presets, and the
            # site's after-job policy turns heaters and fans off.
            assert printer.json()["after_job"] == {"heaters": "off", "fans": "off"}
            assert [p["name"] for p in printer.json()["presets"]] == expected_presets[name]
            files = browser.get(f"{site}/printers/{name}/api/v1/files", timeout=10).json()
            assert {f["name"] for f in files["files"]} >= {"cube_prusa_marlin2.gcode"}
            page = browser.get(f"{site}/printers/{name}/", timeout=10)
            assert page.status_code == 200 and '<h1 id="name">' in page.text
        # An action needs the session's CSRF token; with it, the print server records the user.
        job = {"file": "cube_slic3r.gcode"}
        url = f"{site}/printers/demo-1/api/v1/job"
        assert browser.post(url, json=job, timeout=10).status_code == 403
        csrf = {"X-CSRF-Token": browser.cookies["fabfleet_csrf"]}
        started = browser.post(url, json=job, headers=csrf, timeout=10)
        assert started.status_code == 201, started.text
        history = browser.get(f"{site}/printers/demo-1/api/v1/history", timeout=10).json()
        assert [j["started_by"] for j in history["jobs"]] == ["admin"]
    finally:
        stopped = stop_demo(demo)
    assert stopped == (0, "stopping\n", "")
    for url in [site + "/", *servers.values()]:
        assert not listening(url), url
    assert not private.exists()
    # Kept in --data-dir: each printer's files and logs, the hub's database, the keys.
    assert (tmp_path / "demo-1" / "data" / "files" / "cube_slic3r.gcode").exists()
    assert (tmp_path / "demo-2" / "server.log").exists()
    assert (tmp_path / "hub-data" / "hub.sqlite").exists()
    assert (tmp_path / "secrets" / "gate.key").stat().st_mode & 0o077 == 0


def running_in(directory: Path) -> list[str]:
    """Command lines of processes that name ``directory``."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if str(directory) in line]


def test_demo_refuses_a_proxy_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    port = free_ports(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [str(FABFLEET), "demo", "--printers", "1", "--port", str(port), "--data-dir",
             str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"fabfleet: cannot listen on 127.0.0.1:{port} (Address already in use);"
        " choose another --port\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_demo_says_which_part_did_not_start_and_stops_the_rest(tmp_path: Path) -> None:
    """The hub's database is broken: the printer that did start is stopped again."""
    port = free_ports(1)
    (tmp_path / "hub-data").mkdir(mode=0o700)
    (tmp_path / "hub-data" / "hub.sqlite").write_text("not a database")
    result = subprocess.run(
        [str(FABFLEET), "demo", "--printers", "1", "--port", str(port), "--data-dir",
         str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    database = tmp_path / "hub-data" / "hub.sqlite"
    assert result.stderr == (
        f"fabfleet: hub database {database} cannot be read (file is not a database); it has"
        " been left as it is. Restore it from a backup, or move it aside to start with an"
        " empty one.\n"
    )
    assert database.read_text() == "not a database"
    assert result.stdout.startswith("starting 1 simulated printers")
    assert running_in(tmp_path) == []


def test_demo_without_nginx_says_so_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(FABFLEET), "demo", "--printers", "1", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "FABFLEET_NGINX": str(tmp_path / "no-nginx")},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "fabfleet: nginx is not installed (Debian/Ubuntu: apt-get install nginx-light;"
        " ./scripts/bootstrap does it)\n"
    )
    assert list(tmp_path.iterdir()) == []
