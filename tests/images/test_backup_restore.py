"""`fabfleet backup` of a running fleet and `fabfleet restore` onto a fresh install, on the
real images: what the restored fleet shows through the proxy is what the old one had.

One fleet (two simulated printers) is used: a job printed to its end on a, a queue
entry, a user and an API key; the backup is made while b prints and the hub is written
(logins, each a session and an audit line). The old project is then removed with its
volumes, and the archive restored into a new state directory under a new compose project.
"""

from __future__ import annotations

import contextlib
import io
import json
import stat
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import APIError, ImageNotFound

from orchestrator.cli import stack as stack_commands
from orchestrator.stack.images import RequireImages
from orchestrator.stack.volumes import HELPER_REPOSITORY
from tests.images.conftest import Built
from tests.images.proxy_stack import (
    ADMIN,
    ADMIN_PASSWORD,
    Visitor,
    eventually,
    fabfleet,
    long_gcode,
    wait_healthy,
)
from tests.orchestrator.stack_helpers import Stack, make_stack, remove_project

PRINTERS = ("a", "b")
GCODE = b"; a small test part\nG28\nG90\nG1 X10 Y10 Z0.3 F3000\nG1 X40 Y10 E1.5 F1200\nG1 X40 Y40 E3\nG1 X10 Y40 E4.5\nM400\n"  # noqa: E501
OPERATOR = "night-shift"
OPERATOR_PASSWORD = "another long test password 17"


@pytest.fixture
def stacks(
    tmp_path: Path, client: docker.DockerClient, built: Built, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Stack, Stack]]:
    """The old fleet's stack (written, not up) and the fresh install's (nothing yet)."""
    monkeypatch.setattr(stack_commands, "image_provider", RequireImages())
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = make_stack(tmp_path / "old", built.repository)
    new = make_stack(tmp_path / "new", built.repository)
    new.http_port = old.http_port  # the archived fleet file names the old one's port
    old.write([{"name": n, "simulated": {"time_factor": 100}} for n in PRINTERS])
    try:
        yield old, new
    finally:
        remove_project(client, old.project)
        remove_project(client, new.project)
        # The empty helper image restore made new volumes from (docs/backup.md).
        with contextlib.suppress(ImageNotFound, APIError):
            client.images.remove(f"{HELPER_REPOSITORY}:10001-10001")


def services() -> list[str]:
    return ["hub", "proxy", *(f"{role}-{n}" for n in PRINTERS for role in ("sim", "printer"))]


def up(stack: Stack, client: docker.DockerClient) -> Visitor:
    result = fabfleet(stack, "up")
    assert result.exit_code == 0, result.output
    wait_healthy(client, stack.project, services())
    visitor = Visitor(f"http://127.0.0.1:{stack.http_port}")
    eventually(
        lambda: visitor.get("/healthz").status_code, lambda s: s == 200, 30, "the proxy answers"
    )
    return visitor


def jobs_of(visitor: Visitor, printer: str) -> list[dict[str, Any]]:
    answer = visitor.answer(f"/printers/{printer}/api/v1/history")
    return [] if answer is None else list(answer["jobs"])


def printer_state(visitor: Visitor, printer: str) -> str:
    answer = visitor.answer(f"/printers/{printer}/api/v1/printer")
    return "unknown" if answer is None else str(answer["state"])


def upload(visitor: Visitor, printer: str, name: str, gcode: bytes, start: bool) -> None:
    answer = visitor.post(
        f"/printers/{printer}/api/v1/files",
        files={"file": (name, gcode, "text/x-gcode")},
        data={"print": "true"} if start else {},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 201, answer.text[:300]


def queue_of(visitor: Visitor) -> list[tuple[int, str, int, str]]:
    entries = visitor.json("/api/queue")["entries"]
    return [(e["id"], e["file"]["name"], e["copy"], e["state"]) for e in entries]


def make_history(admin: Visitor) -> str:
    """A job printed to its end on a, two queue entries waiting for a's bed to be cleared, a
    user, an API key (returned)."""
    upload(admin, "a", "part.gcode", GCODE, start=True)
    eventually(
        lambda: [(j["file"], j["outcome"]) for j in jobs_of(admin, "a")],
        lambda j: j == [("part.gcode", "completed")],
        60,
        "the job on a completed",
    )
    queued = admin.post(
        "/api/queue",
        files={"file": ("bracket.gcode", GCODE, "text/x-gcode")},
        data={"target": "printer:a", "copies": "2"},
        headers={"Accept": "application/json"},
    )
    assert queued.status_code == 201, queued.text[:300]
    user = admin.post(
        "/api/users", json={"name": OPERATOR, "password": OPERATOR_PASSWORD, "role": "operator"}
    )
    assert user.status_code == 201, user.text[:300]
    key = admin.post("/api/keys", json={"name": "slicer"})
    assert key.status_code == 201, key.text[:300]
    return str(key.json()["key"])


class HubWriter(threading.Thread):
    """Logs in again and again while the backup runs: a session and an audit line each."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.logins = 0

    def run(self) -> None:
        while not self.stop.is_set():
            Visitor(self.base).login(OPERATOR, OPERATOR_PASSWORD)
            self.logins += 1


def archived(path: Path) -> dict[str, Any]:
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest: dict[str, Any] = json.load(io.TextIOWrapper(member))
    return manifest


def test_a_fleet_backed_up_while_printing_is_restored_onto_a_fresh_install(
    stacks: tuple[Stack, Stack], client: docker.DockerClient, tmp_path: Path
) -> None:
    old, new = stacks
    admin = up(old, client)
    added = fabfleet(old, "user", "add", ADMIN, "--admin", "--password-stdin",
                     stdin=f"{ADMIN_PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    admin.login(ADMIN, ADMIN_PASSWORD)
    api_key = make_history(admin)
    before_queue = queue_of(admin)
    assert [(name, state) for _, name, _, state in before_queue] == [
        ("bracket.gcode", "queued")
    ] * 2
    before_history = admin.json("/api/history")["jobs"]
    before_users = sorted(u["name"] for u in admin.json("/api/users")["users"])

    # b prints a long job through the backup; the hub is written all along.
    upload(admin, "b", "long.gcode", long_gcode(3000), start=True)
    eventually(lambda: printer_state(admin, "b"), lambda s: s == "printing", 30, "b printing")
    writer = HubWriter(admin.base)
    writer.start()
    archive = tmp_path / "night.fabfleet"
    try:
        backup = fabfleet(old, "backup", str(archive))
    finally:
        writer.stop.set()
        writer.join(30)
    assert backup.exit_code == 0, backup.output
    assert writer.logins > 0
    assert printer_state(admin, "b") == "printing"
    assert "holds the fleet's secrets" in backup.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    manifest = archived(archive)
    assert (manifest["format_version"], manifest["printers"]) == (1, ["a", "b"])
    names = {f["path"] for f in manifest["files"]}
    assert {"fleet.yaml", "state/secrets/gate.key", "state/hub-data/hub.sqlite",
            "printers/a/jobs.sqlite3", "printers/a/files/part.gcode",
            "printers/b/files/long.gcode"} <= names  # fmt: skip

    # The old fleet is gone with its volumes: a fresh install gets the archive.
    assert fabfleet(old, "down").exit_code == 0
    remove_project(client, old.project)
    restore_args = ["restore", str(archive), "--state-dir", str(new.state_dir)]
    restored = fabfleet(new, *restore_args)
    assert restored.exit_code == 0, restored.output
    assert stat.S_IMODE((new.state_dir / "secrets" / "gate.key").stat().st_mode) == 0o600
    hub_db = (new.state_dir / "hub-data" / "hub.sqlite").stat()
    assert (hub_db.st_uid, stat.S_IMODE(hub_db.st_mode)) == (10001, 0o600)
    # A second restore would overwrite the fleet now here: refused, nothing changed.
    again = fabfleet(new, *restore_args)
    assert again.exit_code == 1
    assert "has a fleet's data already" in again.stderr and "--force" in again.stderr
    # With --force it restores all the same, and keeps what it replaced.
    forced = fabfleet(new, *restore_args, "--force")
    assert forced.exit_code == 0, forced.output
    (aside,) = new.state_dir.glob("before-restore-*")
    assert (aside / "hub-data" / "hub.sqlite").exists()
    assert (aside / "secrets" / "gate.key").read_bytes() == (
        new.state_dir / "secrets" / "gate.key"
    ).read_bytes()
    with tarfile.open(aside / "printers" / "a.tar") as kept:
        assert "./files/part.gcode" in kept.getnames()

    visitor = up(new, client)
    me = visitor.login(ADMIN, ADMIN_PASSWORD)
    assert me["name"] == ADMIN
    assert sorted(u["name"] for u in visitor.json("/api/users")["users"]) == before_users
    # The same history; the job b was printing when the archive was made is ended by the
    # restored print server as one whose server stopped: interrupted, in b's own history.
    after = visitor.json("/api/history")["jobs"]
    assert [j for j in after if j["printer"] == "a"] == before_history
    assert [(j["file"], j["outcome"]) for j in jobs_of(visitor, "b")] == [
        ("long.gcode", "interrupted")
    ]
    assert queue_of(visitor) == before_queue
    files = {f["name"] for f in visitor.json("/printers/a/api/v1/files")["files"]}
    assert "part.gcode" in files
    # The old API key works, with no session at all.
    keyed = Visitor(visitor.base).get("/api/fleet", headers={"X-Api-Key": api_key})
    assert keyed.status_code == 200, keyed.text[:300]
    assert sorted(p["name"] for p in keyed.json()["printers"]) == list(PRINTERS)
