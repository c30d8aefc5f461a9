"""`fabfleet up` with a new release under a live fleet, on a real Docker engine: the idle
printers, the hub and the proxy get the new images at once; a printing printer keeps its
container until its print server says the job has ended (orchestrator/stack/rollout.py)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound
from typer.testing import Result

from orchestrator.cli import stack as stack_commands
from orchestrator.stack.images import RequireImages
from tests.orchestrator.stack_helpers import (
    ANSWER_FILE,
    Stack,
    build_stand_ins,
    make_stack,
    remove_images,
    remove_project,
    url_printer,
)

VERSION = version("fabfleet")
PRINTING = '{"state": {"text": "Printing"}}'
READY = '{"state": {"text": "Operational"}}'


@pytest.fixture
def release_stack(tmp_path: Path, client: docker.DockerClient) -> Iterator[Stack]:
    """A stack on stand-in images of its own: the test tags a "new release" over them."""
    repository = f"fabfleet-rollout-{uuid.uuid4().hex[:10]}"
    tags = build_stand_ins(client, repository, VERSION, changing_answer=True)
    first = str(client.images.get(tags[0]).id)
    stack = make_stack(tmp_path, repository)
    saved = stack_commands.image_provider
    stack_commands.image_provider = RequireImages()
    yield stack
    stack_commands.image_provider = saved
    remove_project(client, stack.project)
    remove_images(client, tags)
    # The release before, no longer tagged once the test made a new one.
    with contextlib.suppress(ImageNotFound):
        client.images.remove(first, force=True)


def says(client: docker.DockerClient, container_id: str, answer: str) -> None:
    """What the stand-in print server answers at GET /api/printer from now on."""
    done = client.containers.get(container_id).exec_run(
        ["/bin/busybox", "sh", "-c", f"echo '{answer}' > {ANSWER_FILE}"]
    )
    assert done.exit_code == 0, done.output


def new_release(client: docker.DockerClient, stack: Stack) -> None:
    """The same tags now name other images, as after installing a new fabfleet."""
    before = client.images.get(f"{stack.repository}/instance:{VERSION}").id
    time.sleep(1.1)  # another creation time: another image id
    build_stand_ins(client, stack.repository, VERSION, changing_answer=True)
    assert client.images.get(f"{stack.repository}/instance:{VERSION}").id != before


def test_a_printing_printer_keeps_its_container_until_its_job_ends(
    release_stack: Stack, client: docker.DockerClient
) -> None:
    stack = release_stack
    stack.write([url_printer("a", 5001), url_printer("b", 5002)])
    first = stack.run("up")
    assert first.exit_code == 0, first.stderr
    before = stack.containers(client)
    says(client, before["printer-a"][0], PRINTING)
    new_release(client, stack)

    applied = stack.run("up")
    assert applied.exit_code == 0, applied.stderr
    assert "printer-a is printing: it keeps the container it has until its job ends" in (
        applied.stderr.splitlines()
    )
    assert applied.stdout.endswith(
        "up: 4 of 4 services running; still printing on the containers they had: printer-a"
        " (`fabfleet up` again once their job has ended)\n"
    )
    now = stack.containers(client)
    assert now["printer-a"] == before["printer-a"]
    for service in ("printer-b", "hub", "proxy"):
        assert now[service][0] != before[service][0], service
    new_image = client.images.get(f"{stack.repository}/instance:{VERSION}").id
    assert client.containers.get(now["printer-b"][0]).attrs["Image"] == new_image
    assert client.containers.get(now["printer-a"][0]).attrs["Image"] != new_image

    # Waiting: the job ends a moment later and printer-a is replaced then, alone.
    results: list[Result] = []
    waiting = threading.Thread(
        target=lambda: results.append(stack.run("up", "--wait-for-prints", "60"))
    )
    waiting.start()
    time.sleep(2)
    assert waiting.is_alive()
    assert stack.containers(client)["printer-a"] == before["printer-a"]
    says(client, before["printer-a"][0], READY)
    waiting.join(timeout=90)
    assert not waiting.is_alive()
    (waited,) = results
    assert waited.exit_code == 0, waited.stderr
    assert "replaced  printer-a: its job ended\n" in waited.stdout
    assert waited.stdout.endswith("up: 4 of 4 services running\n")
    after = stack.containers(client)
    assert after["printer-a"][0] != before["printer-a"][0]
    assert client.containers.get(after["printer-a"][0]).attrs["Image"] == new_image
    # Nothing else was touched by the second `up`.
    for service in ("printer-b", "hub", "proxy"):
        assert after[service] == now[service], service
