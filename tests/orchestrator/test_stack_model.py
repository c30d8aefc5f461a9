"""The model of the stack: what runs for a fleet, decided once, before any view renders it."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from orchestrator.fleet.file import load_fleet
from orchestrator.fleet.model import Camera, Fleet, Printer, Simulation, Site, Tls
from orchestrator.model import ModelError, Stack, stack_of
from orchestrator.rendering.compose import render_compose

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parents[2]
VERSION = "1.2.3"
SIMULATED = Printer(name="d", simulated=Simulation())


def usb_stack() -> Stack:
    return stack_of(load_fleet(GOLDEN / "usb" / "fleet.yaml"), VERSION)


def test_services_come_in_order_with_their_roles_and_images() -> None:
    fleet = Fleet(
        printers=[Printer(name="a", simulated=Simulation()), Printer(name="b", serial="S1")],
        cameras=[Camera(name="c", serial="C1")],
    )
    stack = stack_of(fleet, VERSION)
    assert [(s.name, s.role, s.image) for s in stack.services] == [
        ("hub", "hub", "fabfleet/hub:1.2.3"),
        ("sim-a", "simulator", "fabfleet/instance:1.2.3"),
        ("printer-a", "printer", "fabfleet/instance:1.2.3"),
        ("printer-b", "printer", "fabfleet/instance:1.2.3"),
        ("camera-c", "camera", "fabfleet/camera:1.2.3"),
        ("proxy", "proxy", "fabfleet/proxy:1.2.3"),
    ]
    assert [s.fleet_name for s in stack.services] == ["", "a", "a", "b", "c", ""]
    assert stack.user == (10001, 10001)


def test_a_printer_with_a_serial_gets_exactly_its_own_device() -> None:
    stack = stack_of(Fleet(printers=[Printer(name="mk3", serial="A10K3F5Q")]), VERSION)
    devices = [(s.name, s.device) for s in stack.services if s.device is not None]
    assert len(devices) == 1
    name, device = devices[0]
    assert name == "printer-mk3"
    assert (device.host, device.inside) == ("/dev/fabfleet/printer-mk3", "/dev/printer")
    assert stack.service("printer-mk3").setting("FABFLEET_PORT") == "/dev/printer"


def test_printers_without_usb_get_no_device_and_the_right_port() -> None:
    fleet = Fleet(
        printers=[
            Printer(name="net", url="socket://192.168.1.20:5001"),
            Printer(name="sim", simulated=Simulation(firmware="prusa", time_factor=50)),
        ]
    )
    stack = stack_of(fleet, VERSION)
    assert all(s.device is None for s in stack.services)
    net, sim = stack.service("printer-net"), stack.service("printer-sim")
    assert net.setting("FABFLEET_PORT") == "socket://192.168.1.20:5001"
    assert net.networks == ("internal", "printers")
    assert sim.setting("FABFLEET_PORT") == "socket://sim-sim:5000"
    assert (sim.networks, sim.depends_on) == (("internal",), ("sim-sim",))
    board = stack.service("sim-sim")
    assert [a.value for a in board.command][3:5] == ["--identity", "prusa"]
    assert [a.value for a in board.command][-2:] == ["--time-factor", "50"]
    assert [n.name for n in stack.networks] == ["internal", "public", "printers"]
    assert [p.reach for p in stack.printers] == ["network", "simulated"]
    assert stack.links == ()


def test_an_unplugged_device_is_left_out_by_a_transform_not_by_editing_text() -> None:
    stack = usb_stack()
    offline = stack.without_devices(["camera-bench-cam"])
    assert offline.service("camera-bench-cam").device is None
    assert stack.service("camera-bench-cam").device is not None  # the model is unchanged
    assert offline.service("printer-prusa-mk3") == stack.service("printer-prusa-mk3")
    text = render_compose(offline).decode()
    assert "/dev/fabfleet/camera-bench-cam" not in text
    assert "/dev/fabfleet/printer-prusa-mk3:/dev/printer" in text


def test_every_service_has_a_health_check_and_each_served_one_a_route() -> None:
    stack = usb_stack()
    for service in stack.services:
        assert service.health is not None, service.name
        if service.role in ("printer", "camera", "hub"):
            assert service.route is not None, service.name
        else:
            assert service.route is None, service.name
    hub_route = stack.service("hub").route
    assert hub_route is not None and hub_route.path == "/"
    printer = stack.service("printer-prusa-mk3")
    assert printer.route is not None
    assert (printer.route.path, printer.route.upstream) == (
        "/printers/prusa-mk3/",
        "printer-prusa-mk3:8080",
    )
    health = printer.health
    assert health is not None and health == stack.service("hub").health
    assert (health.path, health.port, health.grace) == (
        "/api/health",
        8080,
        20,
    )
    proxy = stack.service("proxy")
    assert proxy.health is not None and proxy.health.path == "/healthz"
    # The proxy's routes are exactly the printers' and cameras' routes, gated by the hub.
    served = [s.route for s in stack.services if s.role in ("printer", "camera")]
    assert list(stack.proxy.routes) == served
    assert all(r.gated for r in stack.proxy.routes)


def test_a_simulators_health_is_a_listening_port_not_a_request() -> None:
    stack = stack_of(Fleet(printers=[Printer(name="d", simulated=Simulation())]), VERSION)
    health = stack.service("sim-d").health
    assert health is not None and (health.port, health.path) == (5000, None)


def test_cameras() -> None:
    stack = usb_stack()
    (camera,) = stack.cameras
    assert (camera.name, camera.service, camera.width, camera.height, camera.fps) == (
        "bench-cam",
        "camera-bench-cam",
        1920,
        1080,
        15,
    )
    assert camera.route.path == "/cameras/bench-cam/"
    assert (camera.link.match, camera.link.value, camera.link.link) == (
        "serial",
        "8A3B2C1D",
        "/dev/fabfleet/camera-bench-cam",
    )
    assert camera.link.ftdi_latency_ms is None
    service = stack.service("camera-bench-cam")
    assert [a.value for a in service.command if a.why] == ["--persistent"]
    assert "--format=YUYV" in [a.value for a in service.command]


def test_udev_links_match_by_serial_or_port_path_and_set_the_ftdi_latency() -> None:
    stack = usb_stack()
    links = {link.name: link for link in stack.links}
    assert sorted(links) == ["bench-cam", "ender-1", "prusa-mk3"]  # not the URL printer
    assert (links["prusa-mk3"].match, links["prusa-mk3"].value) == ("serial", "A10K3F5Q")
    assert (links["ender-1"].match, links["ender-1"].value) == (
        "port_path",
        "pci-0000:00:14.0-usb-0:2:1.0",
    )
    assert links["ender-1"].link == "/dev/fabfleet/printer-ender-1"
    assert links["ender-1"].ftdi_latency_ms == 1
    assert all(link.owner == (10001, 10001) for link in links.values())


def test_the_hub_and_the_printers_it_is_told_of() -> None:
    stack = usb_stack()
    assert (stack.hub.service, stack.hub.address, stack.hub.max_heating) == ("hub", "hub:8080", 2)
    mk3 = stack.printers[0]
    assert (mk3.groups, mk3.tags, mk3.materials, mk3.camera) == (
        ("lab", "students"),
        ("workshop",),
        ("PLA", "PETG"),
        "bench-cam",
    )
    hub = stack.service("hub")
    assert hub.setting("FABFLEET_FLEET") == "/etc/fabfleet/hub/fleet.json"
    assert [(m.kind, m.source, m.target) for m in hub.mounts] == [
        ("data", "hub-data", "/data"),
        ("rendered", "hub", "/etc/fabfleet/hub"),
        ("secret", "secrets/gate.key", "/etc/fabfleet/secrets/gate.key"),
    ]
    assert stack.volumes == tuple(f"printer-{p.name}-data" for p in stack.printers)


def test_the_proxy_publishes_the_sites_ports() -> None:
    tls = Tls(certificate="/etc/c.pem", key="/etc/k.pem")
    stack = stack_of(Fleet(site=Site(http_port=8080, ipv6=False, tls=tls)), VERSION)
    proxy = stack.service("proxy")
    assert [(p.address, p.port) for p in proxy.published] == [("0.0.0.0", 8080), ("0.0.0.0", 443)]
    # The copies `up` keeps for the proxy's user, not the site's files (root's, 0600).
    assert [(m.kind, m.source, m.target) for m in proxy.mounts if "tls" in m.source] == [
        ("secret", "secrets/tls", "/etc/fabfleet/tls")
    ]
    assert stack.proxy.tls_certificate == "/etc/fabfleet/tls/certificate.pem"
    assert not [m for m in proxy.mounts if m.kind == "host"]
    own = Site(http_port=8080, https_port=8443, tls=Tls(self_signed=True))
    published = stack_of(Fleet(site=own), VERSION).service("proxy").published
    assert [(p.address, p.port) for p in published] == [
        ("0.0.0.0", 8080), ("::", 8080), ("0.0.0.0", 8443), ("::", 8443)
    ]  # fmt: skip
    assert [s for s in stack.services if s.published] == [proxy]
    plain = stack_of(Fleet(), VERSION).service("proxy")
    assert [(p.address, p.port) for p in plain.published] == [("0.0.0.0", 80), ("::", 80)]


def test_names_are_what_the_cli_and_the_hub_use() -> None:
    fleet = load_fleet(GOLDEN / "usb" / "fleet.yaml")
    stack = stack_of(fleet.model_copy(update={"printers": [*fleet.printers, SIMULATED]}), VERSION)
    assert [s.name for s in stack.services if s.role == "simulator"] == ["sim-d"]
    assert stack.name == "fabfleet"
    assert {p.service for p in stack.printers} == {
        s.name for s in stack.services if s.role == "printer"
    }
    named = [s for s in stack.services if s.fleet_name and s.role != "simulator"]
    assert [s.name for s in named] == [
        "printer-prusa-mk3", "printer-ender-1", "printer-sim-1", "printer-d", "camera-bench-cam"
    ]  # fmt: skip
    assert all(s.name == f"{s.role}-{s.fleet_name}" for s in named)


def test_a_value_udev_cannot_match_is_refused_while_modelling() -> None:
    with pytest.raises(ModelError, match=r"printer 'p': serial 'a\*' cannot be matched by udev"):
        stack_of(Fleet(printers=[Printer(name="p", serial="a*")]), VERSION)


def test_the_model_is_frozen() -> None:
    stack = usb_stack()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stack.services[0].name = "other"  # type: ignore[misc]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_compose_text_is_parsed_to_run_the_stack() -> None:
    """`up` and `status` decide from the model: nothing under orchestrator/stack reads YAML."""
    modules = sorted((ROOT / "orchestrator" / "stack").glob("*.py"))
    assert modules
    for module in modules:
        assert not {"yaml", "ruamel.yaml"} & imports(module), module
    assert not (ROOT / "orchestrator" / "stack" / "compose_file.py").exists()


def test_the_model_knows_no_target() -> None:
    """No view's library nor any other part of the orchestrator in the model."""
    allowed = {"orchestrator.fleet.model", "orchestrator.stack.secrets"}
    for module in sorted((ROOT / "orchestrator" / "model").glob("*.py")):
        for name in imports(module):
            assert name.split(".")[0] not in {"jinja2", "yaml", "docker"}, (module, name)
            if name.startswith("orchestrator.") and not name.startswith("orchestrator.model"):
                assert name in allowed, (module, name)


def test_a_simulator_for_a_soak_gets_its_faults_and_keeps_its_record_in_a_volume() -> None:
    simulation = Simulation(
        faults=["corrupt_line:probability=0.01", "drop_line:every=700"],
        ok_after_resend=False,
        seed=7,
        record=True,
        hotend_rate=30,
        bed_rate=8.5,
    )
    fleet = Fleet(
        printers=[
            Printer(name="s", simulated=simulation),
            Printer(name="t", simulated=Simulation()),
        ]
    )
    stack = stack_of(fleet, VERSION)
    board = stack.service("sim-s")
    command = [a.value for a in board.command]
    assert command[command.index("--time-factor") + 2 :] == [
        "--fault", "corrupt_line:probability=0.01", "--fault", "drop_line:every=700",
        "--no-ok-after-resend", "--seed", "7", "--hotend-rate", "30", "--bed-rate", "8.5",
        "--record", "/data/executed.gcode",
    ]  # fmt: skip
    assert [(m.kind, m.source, m.target) for m in board.mounts] == [
        ("volume", "sim-s-record", "/data")
    ]
    # A plain simulator keeps nothing, as before.
    assert stack.service("sim-t").mounts == ()
    assert "--record" not in [a.value for a in stack.service("sim-t").command]
    assert stack.volumes == ("printer-s-data", "printer-t-data", "sim-s-record")
    compose = render_compose(stack).decode()
    assert '- "sim-s-record:/data"' in compose
    assert "  sim-s-record: {}" in compose
