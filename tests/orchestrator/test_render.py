"""Rendering the stack: golden files, security properties, escaping, write-if-changed, plan."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from typer.testing import CliRunner, Result

from orchestrator.cli.main import app
from orchestrator.fleet.file import load_fleet
from orchestrator.fleet.model import Camera, Fleet, Printer
from orchestrator.model.build import ModelError
from orchestrator.model.paths import PROXY_KEY
from orchestrator.rendering.render import (
    OUTPUTS,
    RENDERED_FILES,
    environment,
    render_stack,
    render_template,
)
from orchestrator.stack.secrets import proxy_key_conf

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
# Goldens are rendered with a fixed version so a release does not touch them.
VERSION = "1.2.3"


def rendered(case: str) -> dict[str, bytes]:
    return render_stack(load_fleet(GOLDEN / case / "fleet.yaml"), VERSION)


def compose(case: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(rendered(case)["compose.yaml"])
    return data


def test_the_cases_cover_what_they_should() -> None:
    assert CASES == ["empty", "sim", "tls", "usb"]


@pytest.mark.parametrize("case", CASES)
def test_matches_golden(case: str) -> None:
    """Regenerate with FABFLEET_UPDATE_GOLDENS=1 and review the diff."""
    for name, data in rendered(case).items():
        golden = GOLDEN / case / name
        if os.environ.get("FABFLEET_UPDATE_GOLDENS") == "1":
            golden.write_bytes(data)
        assert data.decode() == golden.read_text(), f"{case}/{name} differs from its golden file"


@pytest.mark.parametrize("case", CASES)
def test_compose_security(case: str) -> None:
    stack = compose(case)
    services: dict[str, dict[str, Any]] = stack["services"]
    fleet = load_fleet(GOLDEN / case / "fleet.yaml")
    expected = {"hub", "proxy"} | {f"printer-{p.name}" for p in fleet.printers}
    expected |= {f"sim-{p.name}" for p in fleet.printers if p.simulated is not None}
    assert set(services) == expected | {f"camera-{c.name}" for c in fleet.cameras}
    assert [n for n, s in services.items() if "ports" in s] == ["proxy"]
    uid, gid = fleet.site.container_uid, fleet.site.container_gid
    for name, service in services.items():
        assert service["user"] == f"{uid}:{gid}", name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service, name
        assert "privileged" not in service and "cap_add" not in service, name
        assert "docker.sock" not in yaml.safe_dump(service.get("volumes", [])), name
        url_printers = {f"printer-{p.name}" for p in fleet.printers if p.url is not None}
        networks = ["internal"]
        if name == "proxy":
            networks = ["internal", "public"]
        elif name in url_printers:
            networks = ["internal", "printers"]  # the only ones with a route to the LAN
        assert service["networks"] == networks, name
    assert stack["networks"]["internal"] == {"internal": True}
    assert ("printers" in stack["networks"]) == any(p.url for p in fleet.printers)
    for printer in fleet.printers:
        service = services[f"printer-{printer.name}"]
        if printer.simulated is not None:
            # Its board is its own simulator, on the internal network only.
            assert "devices" not in service
            port = f"socket://sim-{printer.name}:5000"
            assert service["environment"]["FABFLEET_PORT"] == port
            assert service["depends_on"] == [f"sim-{printer.name}"]
            sim = services[f"sim-{printer.name}"]
            assert "devices" not in sim and "volumes" not in sim and "environment" not in sim
            assert sim["image"] == service["image"]
            assert sim["command"][:3] == ["fabfleet-sim", "--tcp", "0.0.0.0:5000"]
        elif printer.url is None:
            assert service["devices"] == [f"/dev/fabfleet/printer-{printer.name}:/dev/printer"]
        else:
            assert "devices" not in service
            assert service["environment"]["FABFLEET_PORT"] == printer.url
        # Its data, and its own gate key only, read-only.
        key = "/etc/fabfleet/secrets/printer.key"
        assert service["volumes"] == [
            f"printer-{printer.name}-data:/data",
            {"type": "bind", "source": f"./secrets/printer-{printer.name}.key",
             "target": key, "read_only": True},
        ]  # fmt: skip
        assert service["environment"]["FABFLEET_GATE_KEY_FILE"] == key
    for camera in fleet.cameras:
        devices = services[f"camera-{camera.name}"]["devices"]
        assert devices == [f"/dev/fabfleet/camera-{camera.name}:/dev/video-camera"]
    # Besides its data, the hub sees only its own rendered directory and its key, read-only.
    hub = services["hub"]
    assert hub["volumes"] == [
        {"type": "bind", "source": "./hub-data", "target": "/data"},
        {"type": "bind", "source": "./hub", "target": "/etc/fabfleet/hub", "read_only": True},
        {"type": "bind", "source": "./secrets/gate.key",
         "target": "/etc/fabfleet/secrets/gate.key", "read_only": True},
    ]  # fmt: skip
    assert hub["environment"]["FABFLEET_GATE_KEY_FILE"] == "/etc/fabfleet/secrets/gate.key"
    assert hub["environment"]["FABFLEET_FLEET"] == "/etc/fabfleet/hub/fleet.json"
    # No key in any rendered file, and only the printers' data are named volumes.
    assert set(stack.get("volumes") or {}) == {f"printer-{p.name}-data" for p in fleet.printers}
    mounts = [v for v in services["proxy"]["volumes"] if v["source"] == "./proxy"]
    assert mounts == [
        {"type": "bind", "source": "./proxy", "target": "/etc/fabfleet/proxy", "read_only": True}
    ]


def test_proxy_ports_follow_the_site() -> None:
    assert compose("usb")["services"]["proxy"]["ports"] == ["0.0.0.0:80:80", "[::]:80:80"]
    tls = ["0.0.0.0:8080:8080", "0.0.0.0:8443:8443"]
    assert compose("tls")["services"]["proxy"]["ports"] == tls


def locations(nginx: str) -> dict[str, str]:
    """Each `location` block's path and body, up to its first nested block if any."""
    blocks = {}
    for chunk in nginx.split("location ")[1:]:
        head, _, body = chunk.partition("{")
        blocks[head.strip()] = body.partition("}")[0]
    return blocks


@pytest.mark.parametrize("case", CASES)
def test_every_printer_and_camera_asks_the_hub(case: str) -> None:
    blocks = locations(rendered(case)["proxy/nginx.conf"].decode())
    fleet = load_fleet(GOLDEN / case / "fleet.yaml")
    devices = [f"/printers/{p.name}/" for p in fleet.printers]
    devices += [f"/cameras/{c.name}/" for c in fleet.cameras]
    for path in devices:
        assert "auth_request /_auth;" in blocks[path], path
    catch_all = {"/printers/", "/cameras/"}
    assert {p for p in blocks if p.startswith(("/printers/", "/cameras/"))} == {
        *devices,
        *catch_all,
    }
    assert "internal;" in blocks["= /_auth"]
    # The identity the hub signed, and never one a client sent, goes to the upstream;
    # the gate hears who is asking from where; a refusal is handled as one.
    for path in devices:
        block = blocks[path]
        assert "auth_request_set $fabfleet_identity $upstream_http_x_fabfleet_identity;" in block
        assert "proxy_set_header X-Fabfleet-Identity $fabfleet_identity;" in block
        assert "error_page 401 = @fabfleet_login;" in block
        assert "error_page 403 = @fabfleet_refused;" in block
    for header in ("X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme",
                   "X-Original-URI $request_uri", "X-Original-Method $request_method"):  # fmt: skip
        assert f"proxy_set_header {header};" in blocks["= /_auth"]
    # The hub's own paths are not behind the gate: it authenticates them itself.
    for path in ("/", "= /api/fleet/events", "/api/queue"):
        assert "auth_request" not in blocks[path], path
    assert "proxy_set_header Upgrade $http_upgrade;" in blocks["= /api/fleet/events"]
    assert "client_max_body_size 2g;" in blocks["/api/queue"]
    assert "proxy_request_buffering off;" in blocks["/api/queue"]
    # A refusal's body is the hub's, in the form the client asked for (a page for a browser).
    for path in ("@fabfleet_login", "@fabfleet_refused"):
        assert "proxy_set_header X-Fabfleet-Gate explain;" in blocks[path], path
        assert "proxy_set_header Accept $http_accept;" in blocks[path], path
        assert "return 302" not in blocks[path], path
    # Only nginx asks the gate, with its key; a client asking gets 404.
    for path in ("= /_auth", "@fabfleet_login", "@fabfleet_refused"):
        assert f"include {PROXY_KEY};" in blocks[path], path
        assert "proxy_set_header X-Fabfleet-Route $fabfleet_route;" in blocks[path], path
        assert "proxy_set_header X-Fabfleet-Uri $fabfleet_routed_uri;" in blocks[path], path
    assert "return 404;" in blocks["= /api/auth/check"]
    for path in devices:
        assert "set $fabfleet_uri $uri;" in blocks[path], path
        kind, name = path.strip("/").split("/")
        assert f"set $fabfleet_route {kind}/{name};" in blocks[path], path
    # Names nginx has no route for go through the gate too (no way to tell which exist).
    for kind in ("printers", "cameras"):
        assert f"set $fabfleet_route {kind}/;" in blocks[f"/{kind}/"]
        assert "auth_request /_auth;" in blocks[f"/{kind}/"]


def test_the_hub_is_told_each_printers_upstream_groups_and_profile() -> None:
    fleet = json.loads(rendered("usb")["hub/fleet.json"])
    assert fleet["site"] == {
        "max_heating": 2,
        # The dispatch check's rules, as written (here the defaults).
        "dispatch": {
            "spool_margin_percent": 10.0,
            "spool_margin_g": 5.0,
            "overdue_maintenance": "hold",
        },
    }
    printers = {p["name"]: p for p in fleet["printers"]}
    mk3 = printers["prusa-mk3"]
    assert mk3["upstream"] == "http://printer-prusa-mk3:8080"
    assert (mk3["groups"], mk3["tags"], mk3["camera"]) == (["lab", "students"], ["workshop"],
                                                            "bench-cam")  # fmt: skip
    assert mk3["profile"] == {"materials": ["PLA", "PETG"], "nozzle": 0.4, "bed": None}
    assert printers["ender-1"]["groups"] == ["lab"]
    assert printers["sim-1"]["groups"] == [] and printers["sim-1"]["tags"] == []
    assert fleet["cameras"] == [
        {"name": "bench-cam", "path": "/cameras/bench-cam/",
         "upstream": "http://camera-bench-cam:8080"}
    ]  # fmt: skip


def test_a_simulated_printer_runs_its_simulator_with_its_options() -> None:
    services = compose("sim")["services"]
    assert services["sim-demo-1"]["command"] == [
        "fabfleet-sim",
        "--tcp",
        "0.0.0.0:5000",
        "--identity",
        "marlin2",
        "--rx-buffer",
        "128",
        "--command-buffer",
        "4",
        "--move-timing",
        "accelerated",
        "--time-factor",
        "20",
    ]
    # The simulated firmware has the buffers the print server is told it has.
    demo_2 = services["sim-demo-2"]["command"]
    assert demo_2[3:] == [
        "--identity",
        "prusa",
        "--rx-buffer",
        "256",
        "--command-buffer",
        "8",
        "--move-timing",
        "accelerated",
        "--time-factor",
        "50",
    ]
    environment = services["printer-demo-2"]["environment"]
    assert (environment["FABFLEET_RX_BUFFER"], environment["FABFLEET_COMMAND_BUFFER"]) == (
        "256",
        "8",
    )
    rules = rendered("sim")["99-fabfleet.rules"].decode()
    assert "printer-demo" not in rules and "fabfleet/printer-mk3" in rules


def test_the_simulators_health_check_finds_a_listening_port() -> None:
    """The check reads /proc/net/tcp: here, on a port this test listens on, and one it does not."""
    test = compose("sim")["services"]["sim-demo-1"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "grep", "-q"]
    with socket.socket() as listening:
        listening.bind(("0.0.0.0", 0))
        listening.listen()
        port = listening.getsockname()[1]
        command = [test[1], test[2], test[3].replace(":1388 ", f":{port:04X} "), test[4]]
        assert subprocess.run(command, check=False).returncode == 0
    assert subprocess.run(command, check=False).returncode == 1


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_print_servers_health_check_wants_a_2xx_from_api_health() -> None:
    """bash's /dev/tcp against a real HTTP server: 200 is well, 503 and a closed port are not."""
    test = compose("sim")["services"]["printer-demo-1"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("$$", "$")  # compose's escape of "$", undone as compose does
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        here = script.replace("127.0.0.1/8080 ", f"127.0.0.1/{port} ")
        assert here != script
        assert subprocess.run(["bash", "-c", here], check=False, timeout=10).returncode == 0
        _Health.status = 503
        try:
            assert subprocess.run(["bash", "-c", here], check=False, timeout=10).returncode != 0
        finally:
            _Health.status = 200
        server.shutdown()
    closed = subprocess.run(["bash", "-c", here], check=False, timeout=10, capture_output=True)
    assert closed.returncode != 0


def test_udev_rules_give_each_device_one_link() -> None:
    rules = rendered("usb")["99-fabfleet.rules"].decode().splitlines()
    links = [line for line in rules if "SYMLINK+=" in line]
    assert len(links) == 3  # the URL printer has none
    assert all('OWNER="10001", GROUP="10001", MODE="0660"' in line for line in links)
    ftdi = [line for line in rules if 'ENV{ID_VENDOR_ID}=="0403"' in line]
    assert len(ftdi) == 2 and all('ATTR{device/latency_timer}="1"' in line for line in ftdi)


@pytest.mark.parametrize("serial", ['AB"12', "AB*", "A[12]", "A|B", "A B", "Ä1"])
def test_a_serial_udev_cannot_match_is_refused(serial: str) -> None:
    fleet = Fleet(printers=[Printer(name="p", serial=serial)])
    with pytest.raises(ModelError, match=r"printer 'p': serial .* cannot be matched by udev"):
        render_stack(fleet, VERSION)


def test_a_camera_serial_is_checked_too() -> None:
    fleet = Fleet(cameras=[Camera(name="c", serial='x"y')])
    with pytest.raises(ModelError, match="camera 'c'"):
        render_stack(fleet, VERSION)


def test_values_are_quoted_for_yaml() -> None:
    url = "socket://x\"y' {z}:1"
    fleet = Fleet(printers=[Printer(name="p", url=url)])
    files = render_stack(fleet, VERSION)
    services = yaml.safe_load(files["compose.yaml"])["services"]
    assert services["printer-p"]["environment"]["FABFLEET_PORT"] == url
    assert b"socket://" not in files["99-fabfleet.rules"]


def test_an_undefined_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ nope }}").render()
    for template in OUTPUTS.values():
        with pytest.raises(jinja2.UndefinedError):
            render_template(template, {})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_bytes((GOLDEN / "usb" / "fleet.yaml").read_bytes())
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config)])


def snapshot(out: Path) -> dict[str, tuple[int, int, bytes]]:
    files = (p for p in out.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in files}


def test_render_writes_then_leaves_unchanged_files_alone(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "stack"
    first = run(config, "render", "--out", str(out))
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [f"changed    {out / name}" for name in RENDERED_FILES]
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(RENDERED_FILES)
    assert all((out / name).stat().st_mode & 0o777 == 0o644 for name in RENDERED_FILES)
    before = snapshot(out)
    second = run(config, "render", "--out", str(out))
    assert second.exit_code == 0
    assert second.stdout.splitlines() == [f"unchanged  {out / name}" for name in RENDERED_FILES]
    assert snapshot(out) == before


def test_plan_shows_a_diff_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "stack"
    assert run(config, "render", "--out", str(out)).exit_code == 0
    clean = run(config, "plan", "--out", str(out), "--exit-code")
    assert (clean.exit_code, clean.stdout) == (0, f"no changes in {out}\n")
    assert run(config, "printer", "remove", "ender-1").exit_code == 0
    before = snapshot(out)
    result = run(config, "plan", "--out", str(out))
    assert result.exit_code == 0
    assert f"--- {out / 'compose.yaml'}\n" in result.stdout
    assert "-  printer-ender-1:\n" in result.stdout
    assert '-SUBSYSTEM=="tty", ENV{ID_PATH}' in result.stdout
    assert "-        location /printers/ender-1/ {\n" in result.stdout
    assert run(config, "plan", "--out", str(out), "--exit-code").exit_code == 1
    assert snapshot(out) == before


def test_plan_into_an_empty_directory_shows_new_files(config: Path, tmp_path: Path) -> None:
    result = run(config, "plan", "--out", str(tmp_path / "nothing"))
    assert result.exit_code == 0
    assert result.stdout.count("--- /dev/null\n") == len(RENDERED_FILES)
    assert not (tmp_path / "nothing").exists()


def test_render_refuses_what_udev_cannot_match(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text('printers:\n  - name: p\n    serial: "a*"\n')
    result = run(config, "render", "--out", str(tmp_path / "stack"))
    assert result.exit_code == 1
    assert result.stderr.startswith("fabfleet: cannot render: printer 'p': serial 'a*'")
    assert not (tmp_path / "stack").exists()


# Installed by scripts/bootstrap (nginx-light); /usr/sbin may not be on a user's PATH.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.mark.parametrize("case", ["empty", "usb"])
def test_nginx_accepts_the_config(case: str, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    # The proxy's key include is mounted from the secrets dir in the stack.
    include = tmp_path / "proxy-gate.conf"
    include.write_text(proxy_key_conf(b"k" * 32))
    text = rendered(case)["proxy/nginx.conf"].decode()
    assert f"include {PROXY_KEY};" in text
    conf.write_text(text.replace(PROXY_KEY, str(include)))
    result = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
