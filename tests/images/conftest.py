"""The four images, built once per test session on a real Docker engine, and removed after.

The Debian base fabfleet builds where no registry is reachable stays (it is a
cache, built once per host); everything else a test creates is removed.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound, NotFound
from typer.testing import CliRunner, Result

from orchestrator.images.wheels import find_source, source_files
from orchestrator.model.images import ROLES
from tests.images.images_cli import app as images_app
from tests.orchestrator.stack_helpers import start_engine

VERSION = version("fabfleet")
STAGE_LABEL = "org.fabfleet.stage"


@dataclass(frozen=True)
class Built:
    """The session's images: ``<repository>/<role>:<version>``, and what building them said."""

    repository: str
    cache: Path
    config: Path
    source: Path
    output: str

    def tag(self, role: str) -> str:
        return f"{self.repository}/{role}:{VERSION}"


def remove_images(client: docker.DockerClient, repository: str) -> None:
    """Every tag of ``repository`` (and the layers only they used)."""
    for role in ROLES:
        with contextlib.suppress(ImageNotFound, NotFound):
            client.images.remove(f"{repository}/{role}:{VERSION}", force=True)


def stage_images(client: docker.DockerClient) -> set[str]:
    """The leftover images of build stages (the Python images' ``venv`` stage)."""
    found = client.images.list(filters={"dangling": True, "label": STAGE_LABEL})
    return {str(i.id) for i in found}


def images(config: Path, cache: Path, *args: str) -> Result:
    """`fabfleet images --config CONFIG ARGS…` with the session's wheel cache."""
    return CliRunner().invoke(
        images_app,
        ["images", "--config", str(config), *args],
        env={"FABFLEET_CACHE_DIR": str(cache)},
    )


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    """A client of the running engine; the engine is started when there is none (CI too)."""
    start_engine()
    client = docker.from_env(timeout=600)
    before = stage_images(client)
    yield client
    for image_id in stage_images(client) - before:
        with contextlib.suppress(ImageNotFound, NotFound):
            client.images.remove(image_id, force=True)
    client.close()


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own wheel cache, so a test run depends on nothing in the user's home."""
    return tmp_path_factory.mktemp("fabfleet-cache")


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of fabfleet's source for the session (`--source`): in a checkout being
    edited meanwhile, the images would rightly become out of date between two tests."""
    snapshot = tmp_path_factory.mktemp("source")
    checkout = find_source()
    for name in source_files(checkout):
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / name, snapshot / name)
    return snapshot


@pytest.fixture(scope="session")
def built(
    client: docker.DockerClient,
    cache: Path,
    source: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    """All four images, built with `fabfleet images` under a repository of their own."""
    repository = f"fabfleet-imgtest-{uuid.uuid4().hex[:10]}"
    config = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    config.write_text(f"site:\n  image_repository: {repository}\n")
    try:
        result = images(config, cache, "--source", str(source))
        assert result.exit_code == 0, result.output
        yield Built(repository, cache, config, source, result.stdout)
    finally:
        remove_images(client, repository)
