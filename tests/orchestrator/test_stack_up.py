"""`fabfleet up`, `status`, `logs`, `restart` and `down` against a real Docker engine."""

from __future__ import annotations

import json
import socket
import uuid
from importlib.metadata import version

import docker

from orchestrator.devices.udev_install import UDEV_CONTROL
from tests.orchestrator.stack_helpers import (
    Filters,
    Stack,
    url_printer,
)

VERSION = version("fabfleet")
UDEV_NOTE = f"udev is not running (no {UDEV_CONTROL}); the rules apply when it starts"


def files_lines(stack: Stack, word: str, keys: tuple[str, ...] = ()) -> str:
    names = ("99-fabfleet.rules", "compose.yaml", "proxy/nginx.conf", "hub/fleet.json")
    paths = [stack.state_dir / n for n in names]
    # Key files written (the first time: the gate's master key and one per printer).
    paths += [stack.state_dir / "secrets" / k for k in keys]
    return "".join(f"{word:<9}  {p}\n" for p in [*paths, stack.rules])


def udev_note(stderr: str) -> None:
    """Without udevd (CI, containers) `up` says so in one line and goes on."""
    assert (UDEV_NOTE in stderr.splitlines()) == (not UDEV_CONTROL.exists())


def test_up_converges_and_recreates_only_what_changed(
    stack: Stack, client: docker.DockerClient
) -> None:
    stack.write([url_printer("a", 5001), url_printer("b", 5002)])
    first = stack.run("up")
    assert first.exit_code == 0, first.stderr
    # The master key, each printer's, then the proxy's key include (derived from the master).
    keys = ("gate.key", "printer-a.key", "printer-b.key", "proxy-gate.conf")
    assert first.stdout == files_lines(stack, "changed", keys) + "up: 4 of 4 services running\n"
    # The keys and the hub's data are the containers' user's, and nobody else's.
    secrets = stack.state_dir / "secrets"
    hub_data = stack.state_dir / "hub-data"
    modes = {secrets: 0o700, secrets / "gate.key": 0o600, secrets / "printer-a.key": 0o400,
             hub_data: 0o700}  # fmt: skip
    for path, mode in modes.items():
        assert path.stat().st_mode & 0o777 == mode, path
    for path in (secrets / "gate.key", secrets / "printer-a.key", hub_data):
        assert (path.stat().st_uid, path.stat().st_gid) == (10001, 10001), path
    udev_note(first.stderr)
    assert stack.rules.read_bytes() == (stack.state_dir / "99-fabfleet.rules").read_bytes()
    started = stack.containers(client)
    assert sorted(started) == ["hub", "printer-a", "printer-b", "proxy"]
    for service in started:
        assert client.containers.get(started[service][0]).status == "running"

    again = stack.run("up")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == files_lines(stack, "unchanged") + "up: 4 of 4 services running\n"
    assert UDEV_NOTE not in again.stderr  # the rules did not change: udev is left alone
    assert stack.containers(client) == started

    stack.write([url_printer("a", 5001), url_printer("b", 5002), url_printer("c", 5003)])
    added = stack.run("up")
    assert added.exit_code == 0, added.stderr
    # The stand-in proxy has no nginx to reload, so it is restarted instead.
    assert added.stdout.endswith("up: 5 of 5 services running\n")
    assert "restarted proxy (proxy/nginx.conf changed; reload failed: " in added.stdout
    now = stack.containers(client)
    assert sorted(now) == ["hub", "printer-a", "printer-b", "printer-c", "proxy"]
    # Only printer-c is new; the printers and the hub keep running untouched (the hub
    # rereads hub/fleet.json from its mounted directory), and the proxy, whose new
    # config has a location for printer-c, is the same container.
    assert now["printer-a"] == started["printer-a"]
    assert now["printer-b"] == started["printer-b"]
    assert now["hub"] == started["hub"]
    assert now["proxy"][0] == started["proxy"][0]
    assert "/printers/c/" in (stack.state_dir / "proxy" / "nginx.conf").read_text()
    assert '"name": "c"' in (stack.state_dir / "hub" / "fleet.json").read_text()

    stack.write([url_printer("a", 5001), url_printer("b", 5002)])
    removed = stack.run("up")
    assert removed.exit_code == 0, removed.stderr
    after = stack.containers(client)
    assert sorted(after) == ["hub", "printer-a", "printer-b", "proxy"]
    assert after["printer-a"] == started["printer-a"]
    assert after["printer-b"] == started["printer-b"]
    assert removed.stdout.endswith("up: 4 of 4 services running\n")
    assert f"removed    {stack.state_dir / 'secrets' / 'printer-c.key'}\n" in removed.stdout
    assert not (stack.state_dir / "secrets" / "printer-c.key").exists()


def test_an_unplugged_usb_printer_does_not_stop_the_rest(
    stack: Stack, client: docker.DockerClient
) -> None:
    stack.write(
        [url_printer("net", 5001), {"name": "usb", "serial": "NOTPLUGGED42"}],
        [{"name": "cam", "serial": "CAM0042"}],
    )
    result = stack.run("up")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert (
        "printer-usb: /dev/fabfleet/printer-usb is not plugged in; "
        "it starts when it is (fabfleet watch)"
    ) in lines
    # A camera runs without its device: ustreamer serves its "offline" picture.
    assert (
        "camera-cam: /dev/fabfleet/camera-cam is not plugged in; "
        'it shows "offline" until it is plugged in and `fabfleet up` runs'
    ) in lines
    assert result.stdout.endswith(
        "up: 4 of 5 services running; waiting for their device: printer-usb\n"
    )
    assert sorted(stack.containers(client)) == ["camera-cam", "hub", "printer-net", "proxy"]

    status = stack.run("status", "--json")
    assert status.exit_code == 0, status.stderr
    rows = {row["service"]: row for row in json.loads(status.stdout)}
    assert rows["printer-usb"] == {
        "service": "printer-usb",
        "container": None,
        "state": "not created",
        "health": "-",
        "started_at": None,
        "printer": "unknown",
        "device": "unplugged",
    }
    assert (rows["camera-cam"]["state"], rows["camera-cam"]["device"]) == (
        "running",
        "unplugged",
    )
    assert (rows["printer-net"]["state"], rows["printer-net"]["device"]) == ("running", None)
    table = stack.run("status").stdout.splitlines()
    assert table[0].split() == ["SERVICE", "STATE", "HEALTH", "STARTED", "PRINTER", "DEVICE"]
    assert [line.split("  ")[0] for line in table[1:]] == [
        "hub", "printer-net", "printer-usb", "camera-cam", "proxy"
    ]  # fmt: skip
    assert table[3].split()[-2:] == ["unknown", "unplugged"]


def test_status_logs_restart_down(stack: Stack, client: docker.DockerClient) -> None:
    stack.write([url_printer("a", 5001), url_printer("b", 5002)])
    assert stack.run("up").exit_code == 0
    client.containers.get(stack.containers(client)["printer-b"][0]).stop(timeout=1)
    label: Filters = {"label": f"com.docker.compose.project={stack.project}"}
    containers = {
        c.labels["com.docker.compose.service"]: c
        for c in client.containers.list(all=True, filters=label)
    }

    def started(service: str) -> str:
        return str(containers[service].attrs["State"]["StartedAt"]).split(".")[0] + "Z"

    status = stack.run("status")
    assert status.exit_code == 0, status.stderr
    # Nothing in a stand-in answers the health checks, which wait 20 s first; a
    # stopped container's health is "unhealthy". Only a running instance is asked
    # what its printer is doing.
    assert status.stdout == (
        "SERVICE    STATE    HEALTH     STARTED               PRINTER\n"
        f"hub        running  starting   {started('hub')}  -\n"
        f"printer-a  running  starting   {started('printer-a')}  Operational\n"
        f"printer-b  exited   unhealthy  {started('printer-b')}  unknown\n"
        f"proxy      running  starting   {started('proxy')}  -\n"
    )
    as_json = stack.run("status", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {
            "service": service,
            "container": containers[service].name,
            "state": state,
            "health": health,
            "started_at": started(service),
            "printer": printer,
            "device": None,
        }
        for service, state, health, printer in (
            ("hub", "running", "starting", None),
            ("printer-a", "running", "starting", "Operational"),
            ("printer-b", "exited", "unhealthy", "unknown"),
            ("proxy", "running", "starting", None),
        )
    ]

    greeting = "stand-in for printer a listening on 8080\n"
    logs = stack.run("logs", "a")
    assert (logs.exit_code, logs.stdout) == (0, greeting)
    assert stack.run("logs", "printer-a").stdout == greeting

    before = stack.containers(client)
    restarted = stack.run("restart", "a")
    assert (restarted.exit_code, restarted.stdout) == (0, "restarted printer-a\n")
    after = stack.containers(client)
    assert after["printer-a"][0] == before["printer-a"][0]
    assert after["printer-a"][1] != before["printer-a"][1]
    assert after["printer-b"] == before["printer-b"]
    assert stack.run("logs", "printer-a").stdout == greeting * 2
    assert stack.run("logs", "a", "--tail", "1").stdout == greeting
    # --follow ends when the container does.
    client.containers.get(after["hub"][0]).stop(timeout=1)
    followed = stack.run("logs", "hub", "--follow")
    assert (followed.exit_code, followed.stdout) == (0, "stand-in listening on 8080\n")

    unknown = stack.run("logs", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "fabfleet: no service 'nope' in the stack (services: hub, printer-a, printer-b, proxy)\n"
    )
    assert stack.run("restart", "nope").stderr == unknown.stderr

    down = stack.run("down")
    assert down.exit_code == 0, down.stderr
    p = stack.project
    assert down.stdout == (
        f"removed container {p}-hub-1\n"
        f"removed container {p}-printer-a-1\n"
        f"removed container {p}-printer-b-1\n"
        f"removed container {p}-proxy-1\n"
        f"removed network {p}_internal\n"
        f"removed network {p}_printers\n"
        f"removed network {p}_public\n"
        "down: done; data volumes are kept\n"
    )
    assert client.containers.list(all=True, filters=label) == []
    assert client.networks.list(filters=label) == []
    volumes = sorted(str(v.name) for v in client.volumes.list(filters=label))
    assert volumes == [f"{p}_printer-a-data", f"{p}_printer-b-data"]
    again = stack.run("down")
    assert (again.exit_code, again.stdout) == (0, "down: nothing is running\n")
    empty = stack.run("status")
    assert empty.exit_code == 0
    assert empty.stdout == (
        "SERVICE    STATE        HEALTH  STARTED  PRINTER\n"
        "hub        not created  -       -        -\n"
        "printer-a  not created  -       -        unknown\n"
        "printer-b  not created  -       -        unknown\n"
        "proxy      not created  -       -        -\n"
    )


def test_a_missing_image_stops_up_no_build_with_what_to_do(
    stack: Stack, client: docker.DockerClient
) -> None:
    # `up` builds missing images by default (tests/images); `--no-build` says what to do.
    stack.repository = f"fabfleet-test-none-{uuid.uuid4().hex[:10]}"
    stack.write([url_printer("a", 5001)])
    result = stack.run("up", "--no-build")
    assert result.exit_code == 1
    repo = stack.repository
    what_to_do = (
        "is not on this host; build it (fabfleet images) or load it (docker load -i FILE), "
        "then run fabfleet up again"
    )
    assert result.stderr.splitlines()[-3:] == [
        f"fabfleet: image {repo}/hub:{VERSION} (for hub) {what_to_do}",
        f"fabfleet: image {repo}/instance:{VERSION} (for printer-a) {what_to_do}",
        f"fabfleet: image {repo}/proxy:{VERSION} (for proxy) {what_to_do}",
    ]
    assert stack.containers(client) == {}


def test_a_failing_compose_up_fails_up(stack: Stack, client: docker.DockerClient) -> None:
    stack.write([url_printer("a", 5001)])
    with socket.socket() as taken:  # something else already serves the site's port
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", stack.http_port))
        taken.listen()
        result = stack.run("up")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "fabfleet: docker compose up failed (exit status 1); see its output above"
    assert any(str(stack.http_port) in line and "address already in use" in line for line in lines)
