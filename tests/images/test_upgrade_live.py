"""A new release applied under a live fleet of simulated printers on the real images: the
printer that is printing finishes its job on the container it had, and is replaced after
(docs/upgrades.md); the idle printer, the hub and the proxy get the new images at once."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.errors import ImageNotFound

from tests.images.conftest import Built
from tests.images.proxy_stack import long_gcode
from tests.images.test_printers_up import address, get, signed, simulated_stack, wait_healthy
from tests.orchestrator.stack_helpers import Stack, remove_project

VERSION = version("fabfleet")
# Long moves at 100x: about 25 s of printing, time for `up` to find it printing.
MOVES = 140


@pytest.fixture
def new_release(client: docker.DockerClient, built: Built) -> Iterator[Any]:
    """Makes the session's tags name new images (the same files, another id), as installing
    a new fabfleet does; puts the session's images back under their tags afterwards."""
    roles = ("instance", "hub", "proxy")
    before = {role: client.images.get(f"{built.repository}/{role}:{VERSION}") for role in roles}

    made: dict[str, str] = {}

    def release() -> dict[str, str]:
        for role, image in before.items():
            dockerfile = f"FROM {image.id}\nLABEL fabfleet.test.release=next\n".encode()
            new, _ = client.images.build(fileobj=io.BytesIO(dockerfile), rm=True)
            new.tag(f"{built.repository}/{role}", VERSION)
            assert new.id != image.id
            made[role] = str(new.id)
        return made

    yield release
    for role, image in before.items():
        image.tag(f"{built.repository}/{role}", VERSION)
    # After the stack (which asks for this fixture) is gone: nothing runs them any more.
    for image_id in made.values():
        with contextlib.suppress(ImageNotFound):
            client.images.remove(image_id, force=True)


@pytest.fixture
def stack(
    tmp_path: Path,
    client: docker.DockerClient,
    built: Built,
    monkeypatch: pytest.MonkeyPatch,
    new_release: Any,
) -> Iterator[Stack]:
    stack = simulated_stack(tmp_path, built, monkeypatch, ("a", "b"))
    yield stack
    remove_project(client, stack.project)


def history(base: str, stack: Stack) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = get(base, "/api/v1/history", signed(stack, "a"))["jobs"]
    return jobs


def test_the_printing_printer_finishes_its_job_then_gets_the_new_release(
    stack: Stack, client: docker.DockerClient, new_release: Any
) -> None:
    up = stack.run("up")
    assert up.exit_code == 0, up.output
    wait_healthy(client, stack, ["sim-a", "printer-a", "sim-b", "printer-b"])
    before = stack.containers(client)
    base = f"http://{address(client.containers.get(before['printer-a'][0]), stack)}:8080"
    started = requests.post(
        f"{base}/api/v1/files",
        files={"file": ("long.gcode", long_gcode(MOVES), "text/x-gcode")},
        data={"print": "true"},
        headers=signed(stack, "a"),
        timeout=10,
    )
    assert started.status_code == 201, started.text
    image = new_release()

    applied = stack.run("up")
    assert applied.exit_code == 0, applied.output
    assert "printer-a is printing: it keeps the container it has until its job ends" in (
        applied.stderr.splitlines()
    )
    assert "still printing on the containers they had: printer-a" in applied.stdout
    now = stack.containers(client)
    assert now["printer-a"] == before["printer-a"] and now["sim-a"] == before["sim-a"]
    for service in ("printer-b", "sim-b", "hub", "proxy"):
        assert now[service][0] != before[service][0], service
    assert client.containers.get(now["printer-b"][0]).attrs["Image"] == image["instance"]
    assert client.containers.get(now["hub"][0]).attrs["Image"] == image["hub"]

    # Waiting: printer-a is replaced once its job has completed, never before.
    waited = stack.run("up", "--wait-for-prints", "180")
    assert waited.exit_code == 0, waited.output
    assert "replaced  printer-a: its job ended" in waited.stdout
    assert waited.stdout.endswith("up: 6 of 6 services running\n")
    after = stack.containers(client)
    assert after["printer-a"][0] != before["printer-a"][0]
    assert client.containers.get(after["printer-a"][0]).attrs["Image"] == image["instance"]
    # The new print server reads the record the old one wrote: completed, on its volume.
    base = f"http://{address(client.containers.get(after['printer-a'][0]), stack)}:8080"
    deadline = time.monotonic() + 30
    while True:
        try:
            jobs = history(base, stack)
            break
        except requests.RequestException:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert [(j["file"], j["outcome"]) for j in jobs] == [("long.gcode", "completed")]
