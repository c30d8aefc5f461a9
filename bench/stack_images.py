"""What the Docker benchmarks share: the `fabfleet` CLI, a stack's containers, and the real
images built once under a repository of the run's own and removed afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import docker
import yaml
from docker.errors import ImageNotFound, NotFound
from docker.models.containers import Container

from orchestrator.model.images import ROLES
from orchestrator.stack.control import SERVICE_LABEL, project_filter

BIN = Path(sys.executable).parent


# No `fabfleet` call a bench makes takes this long (`up` of 100 printers: about 2 minutes).
FABFLEET_WITHIN = 900.0


def fabfleet(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`fabfleet ARGS` with ``env`` added to this process's environment."""
    return subprocess.run(
        [str(BIN / "fabfleet"), *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=FABFLEET_WITHIN,
    )


def containers(client: docker.DockerClient, project: str) -> dict[str, Container]:
    """A compose project's containers by service."""
    found = client.containers.list(all=True, filters=project_filter(project))
    return {c.labels[SERVICE_LABEL]: c for c in found}


def _stage_images(client: docker.DockerClient) -> set[str]:
    """Leftover build-stage images (the Python images' venv stage)."""
    found = client.images.list(filters={"dangling": True, "label": "org.fabfleet.stage"})
    return {str(i.id) for i in found}


@contextlib.contextmanager
def bench_images(client: docker.DockerClient, given: str | None) -> Iterator[tuple[str, Path]]:
    """(image repository, a scratch directory): ``given`` as it is, or images built now with
    `fabfleet images` under a repository of the run's own, removed at the end with the
    build stages they left."""
    repository = given or f"fabfleet-bench-{uuid.uuid4().hex[:8]}"
    stages = _stage_images(client)
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-") as tmp:
        work = Path(tmp)
        try:
            if given is None:
                config = work / "images.yaml"
                config.write_text(yaml.safe_dump({"site": {"image_repository": repository}}))
                started = time.monotonic()
                built = fabfleet({"FABFLEET_CONFIG": str(config)}, "images")
                if built.returncode != 0:
                    raise SystemExit(f"fabfleet images failed:\n{built.stdout}{built.stderr}")
                print(f"images built in {time.monotonic() - started:.0f} s", flush=True)
            yield repository, work
        finally:
            if given is None:
                for role in ROLES:
                    with contextlib.suppress(ImageNotFound, NotFound):
                        client.images.remove(f"{repository}/{role}:{version('fabfleet')}")
                for image_id in _stage_images(client) - stages:
                    with contextlib.suppress(ImageNotFound, NotFound):
                        client.images.remove(image_id, force=True)
