"""Fixtures: a print server process on a simulated printer, fresh or shared per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.server import Served, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """A fresh server with an API key, on a printer whose moves take 10 ms each."""
    with running_server(tmp_path, sim_args=("--fault", "slow_planner:delay=0.01")) as served:
        yield served


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for tests that leave the printer as they found it."""
    with running_server(tmp_path_factory.mktemp("shared")) as served:
        yield served


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[Served]:
    """A fresh server on a printer whose moves take no time: whole files print in seconds."""
    with running_server(tmp_path) as served:
        yield served
