"""`fabfleet demo`: the whole product on 127.0.0.1, as local processes.

No Docker and no root: each simulated printer is a ``fabfleet-sim`` with a
``fabfleet-instance serve`` in front of it (in gate mode, with its own key
derived from the demo's master key), the hub (``fabfleet-hub serve``) with a
fleet.json pointing at those print servers, and nginx run as the current user
from the stack's own template, which is the one address to open. One admin
user, ``admin``, gets a fresh random password, printed once. Ctrl-C (or
SIGTERM) stops every process.

Only nginx's port is open to anyone on the host: the hub and the print servers
listen on Unix sockets and each simulator on a pseudo-terminal, all in a private
directory (0700, removed at the end), so nobody but the demo's user reaches them
around the proxy, and the hub believes ``X-Forwarded-For`` from nginx only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from hub import door
from orchestrator.fleet.model import (
    BedSize,
    Fleet,
    Printer,
    PrinterProfile,
    Simulation,
    Site,
    after_job,
    presets_json,
)
from orchestrator.rendering.nginx import ProxySettings
from orchestrator.rendering.render import hub_fleet, render_nginx
from orchestrator.stack.secrets import (
    PROXY_KEY_CONF,
    Owner,
    ensure_hub_data,
    ensure_secrets,
    printer_key_file,
)

BIN = Path(sys.executable).parent
# Real slicer output from the checkout, put on each demo printer when present.
SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gcode"
SAMPLE_FILES = ("cube_prusa_marlin2.gcode", "cube_slic3r.gcode", "flower_prusa_limits.gcode")
START_SECONDS = 30.0
ADMIN = "admin"
# scripts/bootstrap installs nginx-light; /usr/sbin may not be on a user's PATH.
NGINX_VARIABLE = "FABFLEET_NGINX"
# How nginx (and the hub's fleet.json) name an upstream on a Unix socket.
UNIX_URL = "http://unix:"
# What the demo's printers are set up for, in turn: each page offers these presets.
DEMO_MATERIALS = (["PLA", "PETG"], ["PLA", "PETG", "ABS", "ASA"], ["PLA", "TPU"])


def demo_fleet(count: int) -> Fleet:
    """The demo's fleet: simulated printers demo-1…demo-N with complete profiles, no cameras."""
    return Fleet(
        printers=[
            Printer(
                name=f"demo-{index}",
                simulated=Simulation(),
                profile=PrinterProfile(
                    bed=BedSize(x=250, y=210, z=210),
                    materials=DEMO_MATERIALS[(index - 1) % len(DEMO_MATERIALS)],
                ),
            )
            for index in range(1, count + 1)
        ]
    )


def instance_options(fleet: Fleet, printer: Printer) -> list[str]:
    """``fabfleet-instance serve`` options the fleet file sets for ``printer`` (as compose does)."""
    heaters, fans = after_job(fleet, printer)
    return [
        "--after-job-heaters", heaters,
        "--after-job-fans", fans,
        "--presets", presets_json(fleet, printer),
    ]  # fmt: skip


class DemoError(Exception):
    """A demo process did not start; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DemoPrinter:
    """One running demo printer: its print server's URL and its simulator's address."""

    name: str
    url: str
    simulator: str

    @property
    def address(self) -> str:
        """host:port (or unix:PATH:) of its print server, for nginx."""
        return self.url.removeprefix("http://").rstrip("/")


@dataclass(frozen=True, slots=True)
class DemoSite:
    """What the demo runs: the address to open, the admin's password, the parts."""

    url: str
    password: str
    hub: str
    printers: list[DemoPrinter]


def find_nginx() -> str:
    """The nginx binary: ``$FABFLEET_NGINX``, else on PATH, else Debian's /usr/sbin/nginx."""
    given = os.environ.get(NGINX_VARIABLE)
    candidates = [given] if given else [shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DemoError(
        "nginx is not installed (Debian/Ubuntu: apt-get install nginx-light;"
        " ./scripts/bootstrap does it)"
    )


def check_port_free(port: int) -> None:
    """Refuse, before anything starts, a proxy port another program listens on."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise DemoError(
                f"cannot listen on 127.0.0.1:{port} ({error.strerror}); choose another --port"
            ) from None


def _last_problem(log: Path) -> str | None:
    """The first error line of a log (nginx's [emerg] names the cause), else its last line."""
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    for line in lines:
        if "[emerg]" in line:
            return line.split("[emerg]", 1)[1].split(": ", 1)[-1].strip()
    return lines[-1] if lines else None


def _wait_for_line(process: subprocess.Popen[str], marker: str, what: str, log: Path) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if marker not in line:
        process.kill()
        process.wait()
        raise DemoError(f"{what} did not start: {line.strip() or 'no output'} (log: {log})")
    return line


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (a demo part's private address)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=2)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(2)
        self.sock.connect(self._path)


def answers(url: str) -> bool:
    """Whether ``url`` (http://HOST:PORT/… or http://unix:PATH:/…) answers 200 to a GET."""
    if url.startswith(UNIX_URL):
        path, _, local = url.removeprefix(UNIX_URL).partition(":")
        connection = UnixConnection(path)
        try:
            connection.request("GET", local or "/")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    with urllib.request.urlopen(url, timeout=2) as answer:
        return bool(answer.status == 200)


def _wait_healthy(url: str, what: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if answers(url):
                return
        except OSError:
            pass
        if process.poll() is not None:
            why = _last_problem(log) or f"exit status {process.returncode}"
            raise DemoError(f"{what} did not start: {why} (log: {log})")
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not answer at {url} within {START_SECONDS:.0f} s")
        time.sleep(0.1)


def set_admin(database: Path, password: str) -> None:
    """User ``admin`` (role admin) with ``password``, made or reset in the hub's database."""
    try:
        door.set_demo_user(database, ADMIN, password, "admin")
    except door.DatabaseRefused as error:
        raise DemoError(str(error)) from None
    except (sqlite3.Error, ValueError) as error:
        raise DemoError(f"cannot set up user {ADMIN} in {database}: {error}") from None


class Demo:
    """Starts and stops the demo's processes; use as a context manager."""

    def __init__(
        self, workdir: Path, printers: int, port: int, time_factor: float, private: bool = False
    ) -> None:
        self.workdir = workdir
        self.count = printers
        self.port = port
        self.time_factor = time_factor
        self.processes: list[subprocess.Popen[str]] = []
        self.printers: list[DemoPrinter] = []
        self.fleet = demo_fleet(printers)
        # The hub print servers ask before a start (tests set it; default: the demo's own).
        self.hub_url: str | None = None
        # private: the hub and print servers on Unix sockets, simulators on ptys, in here.
        self.private: Path | None = None
        if private:
            # Short and 0700 whatever --data-dir is (a socket's path has at most 107 bytes).
            self.private = Path(tempfile.mkdtemp(prefix="fabfleet-demo-"))

    def _listen(self, name: str) -> str:
        """Where a part listens: its socket in the private directory, else a free port."""
        if self.private is None:
            return "127.0.0.1:0"
        return f"unix:{self.private / name}.sock"

    def _hub_url(self) -> list[str]:
        """``--hub-url`` for a print server: ``hub_url`` when set, else the hub's socket,
        known before the hub starts (a hub on a free TCP port is not known yet: its print
        servers ask no check)."""
        if self.hub_url is not None:
            return ["--hub-url", self.hub_url]
        if self.private is None:
            return []
        return ["--hub-url", self._listen("hub")]

    def _spawn(self, command: list[str], log: Path, pipe: bool = True) -> subprocess.Popen[str]:
        with log.open("w") as errors:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE if pipe else errors,
                stderr=errors,
                text=True,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def _start_printer(self, entry: Printer, say: Callable[[str], None]) -> DemoPrinter:
        name = entry.name
        home = self.workdir / name
        (home / "data" / "files").mkdir(parents=True, exist_ok=True)
        for sample in SAMPLE_FILES:
            if (SAMPLES / sample).exists():
                shutil.copyfile(SAMPLES / sample, home / "data" / "files" / sample)
        wire = ["--tcp", "127.0.0.1:0"]
        if self.private is not None:
            wire = ["--pty", str(self.private / f"{name}.tty")]
        sim = self._spawn(
            [str(BIN / "fabfleet-sim"), *wire,
             "--move-timing", "accelerated", "--time-factor", f"{self.time_factor:g}"],
            home / "simulator.log",
        )  # fmt: skip
        line = _wait_for_line(sim, "listening on", f"the simulator of {name}", home)
        address = line.rsplit("listening on", 1)[1].strip()
        port = address if self.private is not None else f"socket://{address}"
        log = home / "server.log"
        server = self._spawn(
            [str(BIN / "fabfleet-instance"), "serve", "--port", port,
             "--data-dir", str(home / "data"), "--listen", self._listen(name), "--printer", name,
             "--gate-key-file", str(self.workdir / printer_key_file(name)),
             *self._hub_url(), *instance_options(self.fleet, entry)],
            log,
        )  # fmt: skip
        line = _wait_for_line(server, " on http://", f"the print server of {name}", home)
        url = line.rsplit(" on ", 1)[1].strip()
        _wait_healthy(url + "api/health", f"the print server of {name}", server, log)
        printer = DemoPrinter(name, url, address)
        say(f"{name}: print server on {url}  (simulated Marlin on {address})")
        return printer

    def _start_hub(self, fleet: Fleet) -> str:
        home = self.workdir / "hub"
        home.mkdir(exist_ok=True)
        upstreams = {f"printer-{p.name}": p.url.rstrip("/") for p in self.printers}
        (home / "fleet.json").write_bytes(hub_fleet(fleet, upstreams.__getitem__))
        log = self.workdir / "hub.log"
        hub = self._spawn(
            [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(self.workdir / "hub-data"),
             "--fleet-file", str(home / "fleet.json"),
             "--gate-key-file", str(self.workdir / "secrets" / "gate.key"),
             "--listen", self._listen("hub")],
            log,
        )  # fmt: skip
        line = _wait_for_line(hub, " on http://", "the hub", log)
        url = line.rsplit(" on ", 1)[1].strip()
        _wait_healthy(url + "api/health", "the hub", hub, log)
        return url

    def _start_proxy(self, nginx: str, hub: str) -> str:
        home = self.workdir / "proxy"
        (home / "scratch").mkdir(parents=True, exist_ok=True)
        proxy = ProxySettings(
            hub=hub.removeprefix("http://").rstrip("/"),
            resolver=None,
            listen_host="127.0.0.1:",
            scratch=str(home / "scratch"),
            access_log=str(home / "access.log"),
            gate_key_conf=str(self.workdir / PROXY_KEY_CONF),
        )
        site = Site(http_port=self.port, ipv6=False)
        printers = {p.name: p.address for p in self.printers}
        (home / "nginx.conf").write_bytes(render_nginx(site, printers, {}, proxy))
        # As root, nginx's workers would otherwise become "nobody", who may not reach
        # the scratch directory inside a private one.
        user = " user root;" if os.geteuid() == 0 else ""
        log = home / "nginx.log"
        command = [nginx, "-p", str(home), "-c", str(home / "nginx.conf"), "-e", "stderr",
                   "-g", f"daemon off;{user}"]  # fmt: skip
        process = self._spawn(command, log, pipe=False)
        url = f"http://127.0.0.1:{self.port}/"
        _wait_healthy(url + "healthz", "the proxy (nginx)", process, log)
        return url

    def start_printers(self, say: Callable[[str], None]) -> list[DemoPrinter]:
        """Only the simulated printers and their print servers, in gate mode with keys
        derived from ``<workdir>/secrets/gate.key`` (made when missing)."""
        names = [printer.name for printer in self.fleet.printers]
        ensure_secrets(self.workdir, names, Owner(os.getuid(), os.getgid()))
        for printer in self.fleet.printers:
            self.printers.append(self._start_printer(printer, say))
        return self.printers

    def start(self, say: Callable[[str], None]) -> DemoSite:
        """Everything running and answering; raises DemoError if a part does not start."""
        nginx = find_nginx()
        self.start_printers(say)
        ensure_hub_data(self.workdir, Owner(os.getuid(), os.getgid()))
        password = secrets.token_urlsafe(12)
        set_admin(self.workdir / "hub-data" / "hub.sqlite", password)
        hub = self._start_hub(self.fleet)
        say(f"hub: {hub}")
        url = self._start_proxy(nginx, hub)
        return DemoSite(url, password, hub, self.printers)

    def stop(self) -> None:
        """SIGTERM to every process (the proxy first), SIGKILL to any that stays."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def demo_directory(given: Path | None) -> Iterator[Path]:
    """``given``, kept afterwards; or a temporary directory removed at the end."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="fabfleet-demo-") as temporary:
        yield Path(temporary)


def run_demo(
    printers: int,
    port: int,
    time_factor: float,
    data_dir: Path | None,
    say: Callable[[str], None],
) -> bool:
    """Run the demo until Ctrl-C or SIGTERM (True), or until a process dies (False)."""
    signal.signal(signal.SIGTERM, _interrupt)
    find_nginx()  # before anything starts
    check_port_free(port)
    with (
        demo_directory(data_dir) as workdir,
        Demo(workdir, printers, port, time_factor, private=True) as demo,
    ):
        say(f"starting {printers} simulated printers (moves and heating {time_factor:g}x faster)")
        site = demo.start(say)
        say(f"log in as {ADMIN} with password {site.password}  (new each run, shown only here)")
        say(f"open {site.url} ; Ctrl-C stops the demo")
        try:
            while all(p.poll() is None for p in demo.processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            say("stopping")
            return True
        say(f"a demo process stopped by itself; stopping the rest (logs: {workdir})")
        return False
