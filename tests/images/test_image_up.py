"""`fabfleet up` builds the images it needs that are missing or out of date, and only those."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from orchestrator.cli import stack as stack_commands
from orchestrator.images.build import BuildSettings, ImageBuilder
from orchestrator.images.context import CONTEXTS
from orchestrator.images.provider import BuildImages
from tests.images.conftest import VERSION, Built, remove_images
from tests.orchestrator.stack_helpers import Stack, make_stack, remove_project, url_printer


@pytest.fixture
def stack(
    tmp_path: Path, client: docker.DockerClient, built: Built, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """A fleet with an image repository of its own, whose images are not built yet.

    (``built`` first: what `up` builds then comes from Docker's layer cache.)
    """
    stack = make_stack(tmp_path, f"fabfleet-uptest-{uuid.uuid4().hex[:10]}")
    monkeypatch.setattr(
        stack_commands, "image_provider", BuildImages(source=built.source, cache=built.cache)
    )
    yield stack
    remove_project(client, stack.project)
    remove_images(client, stack.repository)


def building(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if ": building (" in line]


def test_up_builds_missing_images_and_a_second_up_builds_nothing(
    stack: Stack, client: docker.DockerClient
) -> None:
    stack.write([url_printer("a", 5001)])
    first = stack.run("up")
    assert first.exit_code == 0, first.output
    repo = stack.repository
    assert building(first.stdout) == [
        f"{repo}/hub:{VERSION}: building (missing; for hub)",
        f"{repo}/instance:{VERSION}: building (missing; for printer-a)",
        f"{repo}/proxy:{VERSION}: building (missing; for proxy)",
    ]
    assert first.stdout.endswith("up: 3 of 3 services running\n")
    for role in ("hub", "instance", "proxy"):
        assert "org.fabfleet.build" in client.images.get(f"{repo}/{role}:{VERSION}").labels
    printer = client.containers.get(stack.containers(client)["printer-a"][0])
    assert printer.image is not None
    assert printer.image.tags == [f"{repo}/instance:{VERSION}"]

    again = stack.run("up")
    assert again.exit_code == 0, again.output
    assert building(again.stdout) == []
    assert "wheels:" not in again.stdout and "base image" not in again.stdout
    assert again.stdout.endswith("up: 3 of 3 services running\n")


def test_up_no_build_runs_the_images_there_are_even_out_of_date(
    tmp_path: Path, client: docker.DockerClient, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up --no-build` (what the soak runs on images it was given) replaces no image: here the
    Python images are out of date for the provider `up` would otherwise build with."""
    contexts = Path(shutil.copytree(CONTEXTS, tmp_path / "images"))
    with (contexts / "python" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("# a changed line\n")
    provider = BuildImages(source=built.source, cache=built.cache, contexts=contexts)
    monkeypatch.setattr(stack_commands, "image_provider", provider)
    settings = BuildSettings(
        built.repository, VERSION, "debian:bookworm-slim", source=built.source,
        cache=built.cache, contexts=contexts,
    )  # fmt: skip
    builder = ImageBuilder(client, settings, lambda _: None)
    assert (builder.state("hub"), builder.state("instance")) == ("out of date", "out of date")
    before = {role: client.images.get(built.tag(role)).id for role in ("hub", "instance", "proxy")}

    stack = make_stack(tmp_path, built.repository)
    try:
        stack.write([url_printer("a", 5001)])
        result = stack.run("up", "--no-build")
        assert result.exit_code == 0, result.output
        assert building(result.stdout) == [] and "wheels:" not in result.stdout
        assert result.stdout.endswith("up: 3 of 3 services running\n")
        after = {role: client.images.get(built.tag(role)).id for role in before}
        assert after == before
        printer = client.containers.get(stack.containers(client)["printer-a"][0])
        assert printer.image is not None and printer.image.id == before["instance"]
    finally:
        remove_project(client, stack.project)
