"""The whole stack on the real images, used the way a user uses it: through the proxy only.

One fleet for the module (3 simulated printers, 2 cameras whose devices are
absent; printer c has the first camera and a timelapse per job), brought up once
with `fabfleet up`; every request goes to the one published port, logged in as
an admin made with `fabfleet user add`. A second, small fleet of two printers
with device nodes checks that one printer's container cannot open the other's
device.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import docker
import pytest
import requests

from hub.auth.signing import HEADER, identity_for, read_master_key
from orchestrator.cli import stack as stack_commands
from orchestrator.stack.images import RequireImages
from tests import raw_http
from tests.camera_stand_in import layered_gcode, probe_video
from tests.images.conftest import Built
from tests.images.proxy_stack import (
    ADMIN,
    ADMIN_PASSWORD,
    Visitor,
    containers,
    eventually,
    exec_python,
    fabfleet,
    internal_address,
    long_gcode,
    mjpeg_frames,
    printer_states,
    proc_status,
    wait_healthy,
)
from tests.orchestrator.stack_helpers import Stack, make_stack, remove_project

PRINTERS = ("a", "b", "c")
TIME_FACTOR = 100
UID = "10001"
# video4linux's major, and a minor no host has: a capture node with no camera behind it.
V4L_MAJOR = 81
V4L_MINOR = 250
# A short job: homing and a few moves, no heating; a second or two at 100x.
GCODE = b"; a small test part\nG28\nG90\nG1 X10 Y10 Z0.3 F3000\nG1 X40 Y10 E1.5 F1200\nG1 X40 Y40 E3\nG1 X10 Y40 E4.5\nM400\n"  # noqa: E501


@dataclass
class RunningFleet:
    """The module's stack, up: its compose project, its cameras, what `up` said."""

    stack: Stack
    client: docker.DockerClient
    cameras: tuple[str, ...]
    up_output: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.stack.http_port}"

    def services(self) -> list[str]:
        printers = [f"{role}-{n}" for n in PRINTERS for role in ("sim", "printer")]
        return ["hub", "proxy", *printers, *(f"camera-{c}" for c in self.cameras)]


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, client: docker.DockerClient, built: Built
) -> Iterator[RunningFleet]:
    """3 simulated printers and 2 cameras that are not plugged in, up and healthy."""
    stack = make_stack(tmp_path_factory.mktemp("proxy-stack"), built.repository)
    tag = uuid.uuid4().hex[:6]
    cameras = (f"top-{tag}", f"side-{tag}")
    for camera in cameras:
        assert not os.path.lexists(f"/dev/fabfleet/camera-{camera}")
    with pytest.MonkeyPatch.context() as patch:
        # The session built the images; `up` must only use them.
        patch.setattr(stack_commands, "image_provider", RequireImages())
        printers: list[dict[str, Any]] = [
            {"name": n, "simulated": {"time_factor": TIME_FACTOR}} for n in PRINTERS
        ]
        # c has the first camera, and a frame per layer of every job (docs/timelapse.md).
        printers[2] |= {"camera": cameras[0], "timelapse": {"mode": "layer"}}
        stack.write(
            printers,
            [
                {"name": c, "serial": f"FFTCAM{tag.upper()}{i}", "resolution": "640x480", "fps": 5}
                for i, c in enumerate(cameras)
            ],
        )
        try:
            up = fabfleet(stack, "up")
            assert up.exit_code == 0, up.output
            made = RunningFleet(stack, client, cameras, up.output)
            wait_healthy(client, stack.project, made.services())
            yield made
        finally:
            remove_project(client, stack.project)


@pytest.fixture(scope="module")
def admin(fleet: RunningFleet) -> Visitor:
    """An admin made with `fabfleet user add`, logged in through the proxy."""
    added = fabfleet(fleet.stack, "user", "add", ADMIN, "--admin", "--password-stdin",
                     stdin=f"{ADMIN_PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    visitor = Visitor(fleet.base)
    me = visitor.login(ADMIN, ADMIN_PASSWORD)
    assert (me["name"], me["role"]) == (ADMIN, "admin")
    return visitor


def history(visitor: Visitor, printer: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = visitor.json(f"/printers/{printer}/api/v1/history")["jobs"]
    return jobs


def started_at(fleet: RunningFleet) -> dict[str, str]:
    found = containers(fleet.client, fleet.stack.project)
    return {service: str(c.attrs["State"]["StartedAt"]) for service, c in found.items()}


def printer_state(visitor: Visitor, printer: str) -> str:
    answer = visitor.get(f"/printers/{printer}/api/v1/printer")
    return (
        str(answer.json()["state"]) if answer.status_code == 200 else f"HTTP {answer.status_code}"
    )


def test_the_fleet_comes_up_healthy_behind_one_published_port(fleet: RunningFleet) -> None:
    # Cameras without their device run all the same, serving the "offline" picture.
    for camera in fleet.cameras:
        assert (
            f"camera-{camera}: /dev/fabfleet/camera-{camera} is not plugged in; "
            'it shows "offline" until it is plugged in and `fabfleet up` runs'
        ) in fleet.up_output
    assert fleet.up_output.endswith("up: 10 of 10 services running\n"), fleet.up_output
    found = containers(fleet.client, fleet.stack.project)
    assert sorted(found) == sorted(fleet.services())
    # nginx answers on the published port, on the host's loopback.
    assert requests.get(f"{fleet.base}/healthz", timeout=5).text == "ok\n"
    status = fabfleet(fleet.stack, "status", "--json")
    assert status.exit_code == 0, status.output
    rows = {row["service"]: row for row in json.loads(status.stdout)}
    for name in PRINTERS:
        row = rows[f"printer-{name}"]
        assert (row["state"], row["health"], row["printer"]) == (
            "running",
            "healthy",
            "Operational",
        )
    for camera in fleet.cameras:
        row = rows[f"camera-{camera}"]
        assert (row["state"], row["health"], row["device"]) == ("running", "healthy", "unplugged")


def test_the_landing_page_and_the_fleet_answer_through_the_proxy(
    fleet: RunningFleet, admin: Visitor
) -> None:
    landing = requests.get(f"{fleet.base}/", timeout=10)
    assert landing.status_code == 200
    assert landing.headers["Content-Type"].startswith("text/html")
    assert admin.get("/").status_code == 200
    # Every printer, with what it is doing now (the hub follows each print server live).
    states = eventually(
        lambda: printer_states(admin.json("/api/fleet")),
        lambda s: s == {n: "ready" for n in PRINTERS},
        30,
        "every printer ready in /api/fleet",
    )
    assert sorted(states) == sorted(PRINTERS)
    listed = {p["name"]: p for p in admin.json("/api/fleet")["printers"]}
    for name in PRINTERS:
        assert listed[name]["path"] == f"/printers/{name}/"
        assert listed[name]["online"] is True and listed[name]["status"]["connected"] is True


def test_without_tls_the_login_cookies_are_not_secure(admin: Visitor) -> None:
    # Over plain HTTP a Secure cookie would never be sent back: the user could not log in.
    cookies = {c.name: c.secure for c in admin.session.cookies if c.name.startswith("fabfleet")}
    assert cookies == {"fabfleet_session": False, "fabfleet_csrf": False}


def test_each_printer_page_and_api_answer_under_its_prefix(admin: Visitor) -> None:
    for name in PRINTERS:
        page = admin.get(f"/printers/{name}/")
        assert page.status_code == 200, (name, page.status_code, page.text[:200])
        assert page.headers["Content-Type"].startswith("text/html")
        printer = admin.json(f"/printers/{name}/api/v1/printer")
        assert (printer["name"], printer["state"], printer["connected"]) == (name, "ready", True)
        assert printer["firmware"]["name"].startswith("Marlin")


def test_anonymous_requests_to_printers_and_cameras_are_refused(
    fleet: RunningFleet, admin: Visitor
) -> None:
    anonymous = Visitor(fleet.base)
    camera = fleet.cameras[0]
    forged = {"X-Fabfleet-Identity": "admin", "X-Fabfleet-User": "admin"}
    for path in (
        "/printers/a/api/v1/printer",
        "/printers/a/api/v1/history",
        f"/cameras/{camera}/snapshot",
        f"/cameras/{camera}/state",
    ):
        for headers in ({"Accept": "application/json"}, {"Accept": "application/json", **forged}):
            answer = anonymous.get(path, headers=headers, allow_redirects=False)
            assert answer.status_code == 401, (path, headers, answer.status_code, answer.text)
    # A change is refused too, and leaves nothing behind.
    upload = anonymous.post(
        "/printers/a/api/v1/files",
        files={"file": ("x.gcode", GCODE, "text/x-gcode")},
        headers={"Accept": "application/json"},
        allow_redirects=False,
    )
    assert upload.status_code == 401
    stored = admin.json("/printers/a/api/v1/files")["files"]
    assert "x.gcode" not in [f["name"] for f in stored]
    # A browser opening a printer's page is sent to the login page, and back after it.
    page = anonymous.get("/printers/a/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status_code == 302, page.status_code
    location = urlsplit(page.headers["Location"])
    assert (location.path, location.query) == ("/login", "next=/printers/a/")


async def _print_watching_events(
    visitor: Visitor, printer: str, gcode: bytes
) -> tuple[dict[str, Any], int, list[str]]:
    """Open the live stream through the proxy, upload-and-print, follow the states."""
    ws_base = visitor.base.replace("http://", "ws://", 1)
    headers = {"Cookie": visitor.cookie_header()}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.ws_connect(f"{ws_base}/printers/{printer}/api/v1/events?log=0") as socket,
    ):
        first: dict[str, Any] = await socket.receive_json(timeout=10)
        form = aiohttp.FormData()
        form.add_field("file", gcode, filename="part.gcode", content_type="text/x-gcode")
        form.add_field("print", "true")
        assert visitor.csrf is not None
        async with http.post(
            f"{visitor.base}/printers/{printer}/api/v1/files",
            data=form,
            headers={"X-CSRF-Token": visitor.csrf},
        ) as answer:
            uploaded = answer.status
        states = [str(first.get("state"))]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = await socket.receive_json(timeout=deadline - time.monotonic())
            if message["type"] != "state" or message["state"] == states[-1]:
                continue
            states.append(str(message["state"]))
            if "printing" in states and message["state"] not in ("printing", "pausing"):
                break
        return first, uploaded, states


def test_upload_and_print_through_the_proxy_with_live_events(admin: Visitor) -> None:
    first, uploaded, states = asyncio.run(_print_watching_events(admin, "a", GCODE))
    assert (first["type"], first["name"], first["state"]) == ("state", "a", "ready")
    assert uploaded == 201
    # The stream showed the job start and end, as it happened.
    assert states[0] == "ready" and "printing" in states, states
    assert states[-1] in ("finished", "bed not cleared"), states
    jobs = eventually(
        lambda: history(admin, "a"),
        lambda j: bool(j) and j[0]["outcome"] is not None,
        30,
        "the job in a's history",
    )
    assert [(j["file"], j["outcome"]) for j in jobs] == [("part.gcode", "completed")]
    assert history(admin, "c") == []


def test_a_large_upload_streams_through_the_proxy(admin: Visitor) -> None:
    # Larger than nginx's default body limit (1 MB), sent as a browser sends it: with a
    # Content-Length, which nginx checks in every location the request passes, the
    # gate's subrequest included.
    gcode = long_gcode(1) + b"G1 X20 Y20 F3000 ; a line of a large part\n" * 200_000
    assert len(gcode) > 8_000_000
    upload = admin.post(
        "/printers/c/api/v1/files",
        files={"file": ("large.gcode", gcode, "text/x-gcode")},
        headers={"Accept": "application/json"},
    )
    assert upload.status_code == 201, (upload.status_code, upload.text[:300])
    stored = admin.json("/printers/c/api/v1/files/large.gcode")
    assert stored["size"] == len(gcode)
    deleted = admin.delete("/printers/c/api/v1/files/large.gcode")
    assert deleted.status_code in (200, 204), deleted.text


def test_camera_snapshot_is_a_jpeg_and_state_answers(fleet: RunningFleet, admin: Visitor) -> None:
    for camera in fleet.cameras:
        snapshot = admin.get(f"/cameras/{camera}/snapshot")
        assert snapshot.status_code == 200
        assert snapshot.headers["Content-Type"] == "image/jpeg"
        assert snapshot.content[:2] == b"\xff\xd8" and snapshot.content[-2:] == b"\xff\xd9"
        state = admin.json(f"/cameras/{camera}/state")
        assert state["ok"] is True
        # Not plugged in: ustreamer says so, at the fleet file's resolution.
        source = state["result"]["source"]
        assert source["online"] is False
        assert source["resolution"] == {"width": 640, "height": 480}


def test_a_camera_stream_flows_through_the_proxy(fleet: RunningFleet, admin: Visitor) -> None:
    # An MJPEG stream never ends: nginx must pass its frames on as they come.
    received = mjpeg_frames(admin, f"/cameras/{fleet.cameras[0]}/stream", 2)
    assert received.count(b"\xff\xd8") >= 2, f"{len(received)} bytes, fewer than 2 frames"


def test_a_timelapse_has_a_frame_per_layer_and_plays_through_the_proxy(
    fleet: RunningFleet, admin: Visitor, tmp_path: Path
) -> None:
    layers = 4
    stored = admin.post(
        "/printers/c/api/v1/files",
        files={"file": ("layers.gcode", layered_gcode(layers), "text/x-gcode")},
        headers={"Accept": "application/json"},
    )
    assert stored.status_code == 201, stored.text
    # Its layer index built before the start, so that every layer gets its frame.
    eventually(
        lambda: admin.get("/printers/c/api/v1/files/layers.gcode/toolpath").status_code,
        lambda status: status == 200,
        30,
        "the file's toolpath on c",
    )
    started = admin.post("/printers/c/api/v1/job", json={"file": "layers.gcode"})
    assert started.status_code == 201, started.text
    job = started.json()["job"]
    record = eventually(
        lambda: admin.json(f"/printers/c/api/v1/history/{job}"),
        lambda r: (
            r["outcome"] is not None and r["timelapse"]["state"] not in ("capturing", "assembling")
        ),
        60,
        "c's job and its timelapse",
    )
    assert record["outcome"] == "completed"
    # The camera is unplugged: ustreamer's placeholder is what it sees, one frame a layer.
    timelapse = record["timelapse"]
    assert (timelapse["state"], timelapse["frames"], timelapse["notes"]) == ("ready", layers, [])
    video = admin.get(f"/printers/c/api/v1/history/{job}/timelapse.mp4")
    assert video.status_code == 200, video.text[:300]
    assert video.headers["Content-Type"] == "video/mp4"
    path = tmp_path / "timelapse.mp4"
    path.write_bytes(video.content)
    seen = probe_video(path)
    assert seen["frames"] == layers and seen["duration"] > 0
    # A player's range request passes the proxy.
    part = admin.get(
        f"/printers/c/api/v1/history/{job}/timelapse.mp4", headers={"Range": "bytes=0-1023"}
    )
    assert part.status_code == 206 and len(part.content) == 1024
    # The hub's history links the same video, through the proxy.
    archived = eventually(
        lambda: [j for j in admin.json("/api/history")["jobs"] if j["printer"] == "c"],
        lambda jobs: any(j["id"] == job for j in jobs),
        90,
        "c's job in the hub's history",
    )
    link = next(j["timelapse"] for j in archived if j["id"] == job)
    assert link == f"/printers/c/api/v1/history/{job}/timelapse.mp4"
    assert admin.get(link).content == video.content
    assert admin.post("/printers/c/api/v1/bed/clear").status_code == 200


def test_adding_a_printer_starts_only_it_and_removing_it_removes_its_route(
    fleet: RunningFleet, admin: Visitor
) -> None:
    before = started_at(fleet)
    added = fabfleet(fleet.stack, "printer", "add", "d", "--simulated", "--time-factor", "100")
    assert added.exit_code == 0, added.output
    up = fabfleet(fleet.stack, "up")
    assert up.exit_code == 0, up.output
    assert "reloaded proxy (proxy/nginx.conf changed)" in up.output
    after = started_at(fleet)
    assert sorted(set(after) - set(before)) == ["printer-d", "sim-d"]
    assert {s: after[s] for s in before} == before
    # Through the proxy at once (nginx reloaded), and in the hub's fleet.
    printer = eventually(
        lambda: printer_state(admin, "d"), lambda s: s == "ready", 60, "printer d ready"
    )
    assert printer == "ready"
    eventually(
        lambda: printer_states(admin.json("/api/fleet")).get("d"),
        lambda s: s == "ready",
        30,
        "d in /api/fleet",
    )

    removed = fabfleet(fleet.stack, "printer", "remove", "d")
    assert removed.exit_code == 0, removed.output
    up = fabfleet(fleet.stack, "up")
    assert up.exit_code == 0, up.output
    left = started_at(fleet)
    assert left == before
    # /printers/d/ is no printer's any more: the gate answers as for any name nobody may
    # see (the same 403 for unknown and forbidden printers: no enumeration), whether
    # nginx has reloaded yet or not.
    gone = eventually(
        lambda: requests.get(
            f"{fleet.base}/printers/d/api/v1/printer",
            headers={"Accept": "application/json"},
            cookies=admin.session.cookies,
            timeout=10,
        ),
        lambda answer: answer.status_code == 403,
        60,
        "d's route gone",
    )
    assert gone.status_code == 403, (gone.status_code, gone.text[:200])
    assert "no printer named 'd'" in gone.text
    eventually(
        lambda: sorted(printer_states(admin.json("/api/fleet"))),
        lambda names: names == sorted(PRINTERS),
        30,
        "d gone from /api/fleet",
    )


def test_a_printer_killed_mid_print_is_restarted_and_its_job_interrupted(
    fleet: RunningFleet, admin: Visitor
) -> None:
    upload = admin.post(
        "/printers/b/api/v1/files",
        files={"file": ("long.gcode", long_gcode(2000), "text/x-gcode")},
        data={"print": "true"},
    )
    assert upload.status_code == 201, upload.text
    eventually(lambda: printer_state(admin, "b"), lambda s: s == "printing", 30, "b printing")
    time.sleep(1)
    container = containers(fleet.client, fleet.stack.project)["printer-b"]
    started, pid = container.attrs["State"]["StartedAt"], container.attrs["State"]["Pid"]
    # From the host, as the OOM killer or a crash would: not `docker stop`, so Docker's
    # restart policy applies.
    os.kill(pid, signal.SIGKILL)

    def restarted() -> tuple[str, int, str]:
        container.reload()
        state = container.attrs["State"]
        return str(state["Status"]), int(container.attrs["RestartCount"]), str(state["StartedAt"])

    _, count, _ = eventually(
        restarted, lambda r: r[0] == "running" and r[2] != started, 30, "printer-b restarted"
    )
    assert count >= 1
    jobs = eventually(
        lambda: (admin.answer("/printers/b/api/v1/history") or {"jobs": []})["jobs"],
        lambda j: bool(j) and j[0]["outcome"] is not None,
        60,
        "b's job closed",
    )
    assert [(j["file"], j["outcome"]) for j in jobs] == [("long.gcode", "interrupted")]
    # The print server is back on its printer.
    eventually(
        lambda: printer_state(admin, "b"),
        lambda s: s in ("ready", "bed not cleared"),
        60,
        "b back",
    )


def test_every_container_is_hardened_and_only_the_proxy_publishes(fleet: RunningFleet) -> None:
    found = containers(fleet.client, fleet.stack.project)
    assert sorted(found) == sorted(fleet.services())
    for service, container in found.items():
        container.reload()
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["User"] == f"{UID}:{UID}", service
        assert host["Privileged"] is False and not host["CapAdd"], service
        assert host["CapDrop"] == ["ALL"], service
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["ReadonlyRootfs"] is True, service
        # No device: the cameras are not plugged in, the printers are simulated.
        assert not host["Devices"], service
        sources = [str(m.get("Source", "")) for m in container.attrs["Mounts"]]
        assert not any("docker.sock" in s for s in sources), (service, sources)
        ports = container.attrs["NetworkSettings"]["Ports"] or {}
        published = {port: bound for port, bound in ports.items() if bound}
        if service == "proxy":
            port = str(fleet.stack.http_port)
            assert {b["HostPort"] for bs in published.values() for b in bs} == {port}
        else:
            assert not published and not host["PortBindings"], (service, published)
        fields = proc_status(container)
        assert fields["Uid"].split() == [UID] * 4, service
        assert fields["Gid"].split() == [UID] * 4, service
        assert fields["CapEff"] == fields["CapPrm"] == "0" * 16, service
        assert fields["NoNewPrivs"] == "1", service
        # Every process in it (nginx's workers, ustreamer's), not only the first.
        top = container.top(ps_args="-eo pid,uid,comm")
        uids = {row[top["Titles"].index("UID")] for row in top["Processes"]}
        assert uids == {UID}, (service, top["Processes"])
    # Only the proxy is on the network with a route out.
    for service, container in found.items():
        networks = set(container.attrs["NetworkSettings"]["Networks"])
        expected = {f"{fleet.stack.project}_internal"}
        if service == "proxy":
            expected.add(f"{fleet.stack.project}_public")
        assert networks == expected, (service, networks)
    internal = fleet.client.networks.get(f"{fleet.stack.project}_internal")
    assert internal.attrs["Internal"] is True


def test_a_camera_plugged_in_later_gets_its_device_at_the_next_up(
    fleet: RunningFleet, admin: Visitor, tmp_path: Path
) -> None:
    camera = fleet.cameras[1]
    service = f"camera-{camera}"
    before = started_at(fleet)
    old = containers(fleet.client, fleet.stack.project)[service]
    # A V4L node with no camera behind it, linked as udev links a plugged-in camera.
    node = tmp_path / "video-node"
    os.mknod(node, stat.S_IFCHR | 0o660, os.makedev(V4L_MAJOR, V4L_MINOR))
    os.chown(node, int(UID), int(UID))
    link = Path(f"/dev/fabfleet/{service}")
    Path("/dev/fabfleet").mkdir(exist_ok=True)
    link.symlink_to(node)
    try:
        up = fabfleet(fleet.stack, "up")
        assert up.exit_code == 0, up.output
        assert f"{service}: {link} is not plugged in" not in up.output
        now = containers(fleet.client, fleet.stack.project)
        assert now[service].id != old.id
        devices = now[service].attrs["HostConfig"]["Devices"]
        assert [(d["PathOnHost"], d["PathInContainer"]) for d in devices] == [
            (str(link), "/dev/video-camera")
        ]
        # Only the camera was recreated.
        after = started_at(fleet)
        assert {s: t for s, t in after.items() if s != service} == {
            s: t for s, t in before.items() if s != service
        }
        eventually(
            lambda: admin.answer(f"/cameras/{camera}/state"),
            lambda state: state is not None and state["ok"] is True,
            30,
            "the camera's state through the proxy",
        )
    finally:
        link.unlink()
    # Unplugged again: the next `up` runs it without the device once more.
    up = fabfleet(fleet.stack, "up")
    assert up.exit_code == 0, up.output
    again = containers(fleet.client, fleet.stack.project)[service]
    assert again.attrs["HostConfig"]["Devices"] in (None, [])
    eventually(
        lambda: admin.answer(f"/cameras/{camera}/state"),
        lambda state: state is not None and state["result"]["source"]["online"] is False,
        30,
        "the camera offline again",
    )


# What a container on the internal network gets from printer a's print server, around
# the proxy, for each set of headers given as JSON.
AROUND_THE_PROXY = """
import json, sys, urllib.error, urllib.request
answers = {}
for name, headers in json.loads(sys.argv[1]).items():
    request = urllib.request.Request("http://printer-a:8080/api/v1/printer", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            answers[name] = answer.status
    except urllib.error.HTTPError as error:
        answers[name] = error.code
print(json.dumps(answers))
"""


def test_a_print_server_reached_around_the_proxy_refuses(fleet: RunningFleet) -> None:
    found = containers(fleet.client, fleet.stack.project)
    master = read_master_key(fleet.stack.state_dir / "secrets" / "gate.key")
    attempts = {
        "no identity": {},
        "a user's name": {HEADER: ADMIN},
        "signed with another key": {HEADER: identity_for(b"k" * 32, "a", ADMIN, True)},
        # Signed by the gate, but for printer b: a's print server holds only a's key.
        "signed for printer b": {HEADER: identity_for(master, "b", ADMIN, True)},
        # What nginx passes after the gate said yes: the control.
        "signed for printer a": {HEADER: identity_for(master, "a", ADMIN, True)},
    }
    code, output = exec_python(found["hub"], AROUND_THE_PROXY, json.dumps(attempts))
    assert code == 0, output
    answers = json.loads(output)
    assert answers.pop("signed for printer a") == 200
    assert all(status in (401, 403) for status in answers.values()), answers
    # And from the host, to the container's own address.
    base = f"http://{internal_address(found['printer-a'], fleet.stack.project)}:8080"
    assert requests.get(f"{base}/api/v1/printer", timeout=5).status_code in (401, 403)
    upload = requests.post(
        f"{base}/api/v1/files", files={"file": ("x.gcode", GCODE, "text/x-gcode")}, timeout=5
    )
    assert upload.status_code in (401, 403)
    # Its health check still answers, for Docker.
    assert requests.get(f"{base}/api/health", timeout=5).status_code == 200


OPERATOR = "oper-a"
OPERATOR_PASSWORD = "operator password 19"


@pytest.fixture(scope="module")
def operator(fleet: RunningFleet) -> Visitor:
    """An operator of printer a only, made with `fabfleet user add`, logged in."""
    added = fabfleet(fleet.stack, "user", "add", OPERATOR, "--role", "operator", "--printer",
                     "a", "--password-stdin", stdin=f"{OPERATOR_PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    visitor = Visitor(fleet.base)
    visitor.login(OPERATOR, OPERATOR_PASSWORD)
    return visitor


def test_the_gate_decides_on_the_printer_nginx_routed_to(
    fleet: RunningFleet, admin: Visitor, operator: Visitor
) -> None:
    """Issue 19, finding 1, through the published port: the '#' ends nginx's path at b, the
    whole raw URI climbs to a; refused, and written down on b, where it went."""
    since = str(time.time())
    credentials = {"Cookie": operator.cookie_header(), "X-CSRF-Token": str(operator.csrf)}
    cancel = "/api/v1/job/cancel"
    line = f"POST /printers/b{cancel}#/../../../../../a{cancel} HTTP/1.1"
    status, body = raw_http.raw(fleet.base + "/", line, credentials)
    assert status == 403, body
    entries = admin.json(f"/api/audit?since={since}&user={OPERATOR}")["entries"]
    assert [(e["action"], e["printer"]) for e in entries] == [("refused cancel", "b")]
    # An act let through is recorded with what the print server did: nothing to pause.
    assert operator.post("/printers/a/api/v1/job/pause").status_code == 409
    settled = eventually(
        lambda: admin.json(f"/api/audit?since={since}&action=pause")["entries"],
        lambda found: [e["outcome"] for e in found] == ["refused"],
        30,
        "the print server's refusal in the audit log",
    )
    assert (settled[0]["printer"], settled[0]["status"]) == ("a", 409)


def test_clients_cannot_ask_the_gate(fleet: RunningFleet, operator: Visitor) -> None:
    """Issue 19, finding 2: only nginx asks /api/auth/check."""
    asked = {"X-Original-URI": "/printers/a/api/v1/job/cancel", "X-Original-Method": "POST",
             "X-Fabfleet-Route": "printers/a"}  # fmt: skip
    for method in ("GET", "POST"):
        answer = operator.session.request(
            method, fleet.base + "/api/auth/check", headers=asked, timeout=10
        )
        assert answer.status_code == 404
        assert "X-Fabfleet-Identity" not in answer.headers


def test_the_printer_stream_refuses_a_page_of_another_site(
    fleet: RunningFleet, operator: Visitor
) -> None:
    """Issue 19, finding 4: the printer's WebSocket checks Origin."""
    credentials = {"Cookie": operator.cookie_header()}

    def status(origin: str | None) -> int:
        return raw_http.handshake(fleet.base + "/", "/printers/a/api/v1/events", credentials,
                                  origin)  # fmt: skip

    assert status(fleet.base) == 101
    assert status("http://evil.example") == 403


# Run in printer A's container: what A can do with its own device and with B's.
DEVICE_PROBE = """
import errno, json, os, stat, sys
own, other = int(sys.argv[1]), int(sys.argv[2])
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return errno.errorcode[error.errno]
def open_close(path):
    os.close(os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
nodes = []
for directory, _, names in os.walk("/dev"):
    for name in names:
        path = os.path.join(directory, name)
        info = os.lstat(path)
        if stat.S_ISCHR(info.st_mode) and info.st_rdev in (own, other):
            nodes.append([path, "own" if info.st_rdev == own else "other"])
print(json.dumps({
    "nodes": sorted(nodes),
    "open own": attempt(lambda: open_close("/dev/printer")),
    "open own copy": attempt(lambda: open_close("/data/own-node")),
    "open other": attempt(lambda: open_close("/data/other-node")),
    "mknod other": attempt(lambda: os.mknod("/tmp/other", stat.S_IFCHR | 0o600, other)),
}))
"""
# ttyACM numbers no host has: the nodes exist, their driver finds no device behind
# them, so opening one that the container may use fails with ENXIO (the kernel got
# past the container's device rules) and one it may not with EPERM (it did not).
ACM_MAJOR = 166
ACM_MINORS = (250, 251)


@pytest.fixture
def device_fleet(
    tmp_path: Path, client: docker.DockerClient, built: Built
) -> Iterator[tuple[Stack, dict[str, int]]]:
    """Two printers with device nodes and their /dev/fabfleet links, as udev makes them."""
    stack = make_stack(tmp_path, built.repository)
    tag = uuid.uuid4().hex[:6]
    names = (f"left-{tag}", f"right-{tag}")
    devices: dict[str, int] = {}
    links = []
    Path("/dev/fabfleet").mkdir(exist_ok=True)
    try:
        for name, minor in zip(names, ACM_MINORS, strict=True):
            node = tmp_path / f"ttyACM-{name}"
            devices[name] = os.makedev(ACM_MAJOR, minor)
            os.mknod(node, stat.S_IFCHR | 0o660, devices[name])
            os.chown(node, int(UID), int(UID))
            link = Path(f"/dev/fabfleet/printer-{name}")
            link.symlink_to(node)
            links.append(link)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stack_commands, "image_provider", RequireImages())
            stack.write(
                [{"name": n, "serial": f"FFTACM{tag.upper()}{i}"} for i, n in enumerate(names)]
            )
            yield stack, devices
    finally:
        for link in links:
            link.unlink()
        remove_project(client, stack.project)


def test_a_printer_container_cannot_open_another_printers_device(
    device_fleet: tuple[Stack, dict[str, int]], client: docker.DockerClient
) -> None:
    stack, devices = device_fleet
    up = fabfleet(stack, "up")
    assert up.exit_code == 0, up.output
    (left, own), (_, other) = devices.items()
    container = containers(client, stack.project)[f"printer-{left}"]

    def status() -> str:
        container.reload()
        return str(container.status)

    eventually(
        status,
        lambda s: s == "running",
        30,
        "the printer's container running",
    )
    assert [d["PathInContainer"] for d in container.attrs["HostConfig"]["Devices"]] == [
        "/dev/printer"
    ]
    # Copies of both nodes in its data volume (a node there needs no mknod inside).
    volume = client.volumes.get(f"{stack.project}_printer-{left}-data")
    data = Path(volume.attrs["Mountpoint"])
    for name, device in (("own-node", own), ("other-node", other)):
        os.mknod(data / name, stat.S_IFCHR | 0o660, device)
        os.chown(data / name, int(UID), int(UID))
    code, output = exec_python(container, DEVICE_PROBE, str(own), str(other))
    assert code == 0, output
    assert json.loads(output) == {
        "nodes": [["/dev/printer", "own"]],
        "open own": "ENXIO",
        "open own copy": "ENXIO",
        "open other": "EPERM",
        "mknod other": "EPERM",
    }
