"""Fixtures for the tests that run the stack on a real Docker engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import docker
import pytest

from tests.orchestrator.stack_helpers import (
    Stack,
    build_stand_ins,
    make_stack,
    remove_images,
    remove_project,
    start_engine,
)

VERSION = version("fabfleet")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running Docker engine: the tests start one when there is none (CI included)."""
    start_engine()


@pytest.fixture(scope="session")
def client(docker_engine: None) -> Iterator[docker.DockerClient]:
    """A client of the running engine."""
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def repository(client: docker.DockerClient) -> Iterator[str]:
    """A repository of stand-in images of its own, so nothing real is touched."""
    name = f"fabfleet-test-{uuid.uuid4().hex[:10]}"
    tags = build_stand_ins(client, name, VERSION)
    yield name
    remove_images(client, tags)


@pytest.fixture
def stack(tmp_path: Path, client: docker.DockerClient, repository: str) -> Iterator[Stack]:
    """A fleet of its own (compose project, state dir, udev rules path); removed after."""
    stack = make_stack(tmp_path, repository)
    yield stack
    remove_project(client, stack.project)
