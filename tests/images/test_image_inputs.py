"""A changed build input makes an image out of date; a failed build says why."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import docker
import pytest

from orchestrator.images.build import BuildSettings, ImageBuilder, ImageBuildError, build_all
from orchestrator.images.context import CONTEXTS
from tests.images.conftest import Built, remove_images
from tests.orchestrator.stack_helpers import build_stand_ins

VERSION = version("fabfleet")


@pytest.fixture
def repository(client: docker.DockerClient, built: Built) -> Iterator[str]:
    """The session's camera and proxy images, tagged into a repository of their own."""
    name = f"fabfleet-inputs-{uuid.uuid4().hex[:10]}"
    for role in ("camera", "proxy"):
        client.images.get(built.tag(role)).tag(f"{name}/{role}", VERSION)
    yield name
    remove_images(client, name)


def builder(
    client: docker.DockerClient, repository: str, contexts: Path, built: Built
) -> tuple[ImageBuilder, list[str]]:
    said: list[str] = []
    settings = BuildSettings(
        repository,
        VERSION,
        "debian:bookworm-slim",
        source=built.source,
        cache=built.cache,
        contexts=contexts,
    )
    return ImageBuilder(client, settings, said.append), said


def test_a_changed_context_makes_only_that_image_out_of_date(
    client: docker.DockerClient, built: Built, repository: str, tmp_path: Path
) -> None:
    contexts = Path(shutil.copytree(CONTEXTS, tmp_path / "images"))
    same, _ = builder(client, repository, contexts, built)
    assert (same.state("camera"), same.state("proxy")) == ("up to date", "up to date")

    with (contexts / "camera" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("# a changed line\n")
    changed, said = builder(client, repository, contexts, built)
    assert (changed.state("camera"), changed.state("proxy")) == ("out of date", "up to date")
    assert build_all(changed, ("camera", "proxy")) == [f"{repository}/camera:{VERSION}"]
    assert f"{repository}/camera:{VERSION}: building (out of date)" in said
    assert f"{repository}/proxy:{VERSION}: up to date" in said
    assert changed.state("camera") == "up to date"


def test_an_image_fabfleet_did_not_build_is_left_alone(
    client: docker.DockerClient, built: Built
) -> None:
    loaded = f"fabfleet-loaded-{uuid.uuid4().hex[:10]}"
    tags = build_stand_ins(client, loaded, VERSION)  # as `docker load` or a registry gives
    try:
        keeps, said = builder(client, loaded, CONTEXTS, built)
        assert build_all(keeps) == []
        assert said == [f"{tag}: not built by fabfleet" for tag in tags]
    finally:
        remove_images(client, loaded)


def test_a_failed_build_says_so_with_the_end_of_its_log(
    client: docker.DockerClient, built: Built, repository: str, tmp_path: Path
) -> None:
    contexts = Path(shutil.copytree(CONTEXTS, tmp_path / "images"))
    with (contexts / "camera" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("RUN echo 'no camera today' && false\n")
    failing, _ = builder(client, repository, contexts, built)
    with pytest.raises(ImageBuildError) as raised:
        failing.build("camera")
    first, *log = str(raised.value).splitlines()
    assert first == (
        f"building {repository}/camera:{VERSION} failed: The command '/bin/sh -c echo 'no camera "
        "today' && false' returned a non-zero code: 1; the end of its log:"
    )
    assert "  no camera today" in log
