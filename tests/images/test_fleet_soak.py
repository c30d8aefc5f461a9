"""The fleet soak, short (issue 18): 20 simulated printers in the real stack behind nginx and the
gate, fed through the fleet queue for a few minutes with a fixed seed, under every fault the soak
knows but restarting the shared Docker engine: line errors, resends without ok, unplugs, a print
server killed, the hub restarted, nginx reloaded, a cancel, and the host "rebooted". Fails with a
list of every loss. The long runs are ``python -m bench.fleet_soak`` (docs/soak.md)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from bench.soak.plan import CANCEL, HOST_FAULTS, RESTART_ENGINE
from bench.soak.report import write
from bench.soak.run import Settings, run
from tests.images.conftest import Built

PRINTERS = 20
SEED = 18
FED_SECONDS = 150.0
KINDS = tuple(k for k in (*HOST_FAULTS, CANCEL) if k != RESTART_ENGINE)

# About 5 minutes of its own; the images may be built first (the session's, shared).
pytestmark = pytest.mark.timeout(900)


def test_twenty_printers_under_faults_lose_nothing(
    client: docker.DockerClient, built: Built, tmp_path: Path
) -> None:
    settings = Settings(PRINTERS, FED_SECONDS, SEED, KINDS, drain_seconds=150.0)
    result = run(settings, client, built.repository, tmp_path / "soak")
    _, page = write(result, tmp_path / "report")
    assert not result.losses, (
        f"{len(result.losses)} lost:\n" + "\n".join(result.losses) + (f"\n\n{page.read_text()}")
    )
    # It did what a soak must: every fault played, jobs printed and checked line by line,
    # interrupted jobs checked for their resume line, the dashboard followed.
    played = {f["kind"] for f in result.played}
    assert played == set(KINDS), (played, page.read_text())
    assert result.outcomes.get("completed", 0) >= PRINTERS, page.read_text()
    assert result.counts.get("streams compared", 0) == result.outcomes["completed"]
    assert result.counts.get("resume offers checked", 0) >= 2, page.read_text()
    assert result.latency.get("samples", 0) >= PRINTERS, page.read_text()
