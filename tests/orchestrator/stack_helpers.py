"""Real Docker for the stack's tests: the engine, stand-in images, and cleaning up."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import ImageNotFound, NotFound
from typer.testing import CliRunner, Result

from orchestrator.model.images import ROLES
from orchestrator.stack.control import PROJECT_LABEL, SERVICE_LABEL
from tests.orchestrator.stack_cli import app as stack_app

# What the Docker SDK takes as filters=.
Filters = dict[str, str | list[str] | bool]
ROOT = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/bin/busybox")
# What every stand-in container logs first, and what a stand-in instance says its
# printer is doing at GET /api/printer.
GREETING = "stand-in ${FABFLEET_PRINTER:+for printer $FABFLEET_PRINTER }listening on 8080"
PRINTER_JSON = b'{"state": {"text": "Operational"}}\n'
# busybox as PID 1 ignores SIGTERM unless it traps it; without the trap every stop
# would wait out Docker's 10 s timeout.
STAND_IN_CMD = (
    f"trap 'exit 0' TERM; echo \"{GREETING}\"; /bin/busybox httpd -f -p 8080 -h /www & wait"
)


def start_engine() -> None:
    """scripts/docker-engine: a running engine, started here if there is none."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "docker-engine")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/docker-engine failed:\n{done.stderr}"


# With ``changing_answer``: GET /api/printer serves this file of the container's /tmp (the
# only place a test may write in a read-only container), filled at start.
ANSWER_FILE = "/tmp/printer"


def _rootfs(changing_answer: bool = False) -> bytes:
    """A tar of a tiny root file system: a static busybox and a web root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "www", "www/api"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        # A camera whose device is absent runs all the same (`ustreamer …` in compose).
        script = f"#!/bin/busybox sh\n{STAND_IN_CMD}\n".encode()
        info = tarfile.TarInfo("bin/ustreamer")
        info.size = len(script)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(script))
        info = tarfile.TarInfo("www/printer.json" if changing_answer else "www/api/printer")
        info.size = len(PRINTER_JSON)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(PRINTER_JSON))
        if changing_answer:
            info = tarfile.TarInfo("www/api/printer")
            info.type = tarfile.SYMTYPE
            info.linkname = ANSWER_FILE
            tar.addfile(info)
    return buffer.getvalue()


def build_stand_ins(
    client: docker.DockerClient, repository: str, version: str, changing_answer: bool = False
) -> list[str]:
    """``<repository>/<role>:<version>`` for every role, all one busybox httpd image (whose
    printer answer a test may change, in the container's ANSWER_FILE, when
    ``changing_answer``)."""
    start = f"cp /www/printer.json {ANSWER_FILE}; " if changing_answer else ""
    cmd = json.dumps(["/bin/busybox", "sh", "-c", start + STAND_IN_CMD])
    tags = [f"{repository}/{role}:{version}" for role in ROLES]
    first, rest = tags[0], tags[1:]
    client.api.import_image_from_data(
        _rootfs(changing_answer),
        repository=first.rsplit(":", 1)[0],
        tag=version,
        changes=[f"CMD {cmd}"],
    )
    image = client.images.get(first)
    for tag in rest:
        image.tag(tag.rsplit(":", 1)[0], version)
    return tags


def remove_images(client: docker.DockerClient, tags: list[str]) -> None:
    for tag in tags:
        with contextlib.suppress(ImageNotFound):
            client.images.remove(tag)


def remove_project(client: docker.DockerClient, project: str) -> None:
    """Every container, network and volume compose made for ``project``."""
    label: Filters = {"label": f"{PROJECT_LABEL}={project}"}
    for container in client.containers.list(all=True, filters=label):
        with contextlib.suppress(NotFound):
            container.remove(force=True)
    for network in client.networks.list(filters=label):
        with contextlib.suppress(NotFound):
            network.remove()
    for volume in client.volumes.list(filters=label):
        with contextlib.suppress(NotFound):
            volume.remove(force=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    """A fleet under its own compose project, state dir and udev rules path."""

    project: str
    config: Path
    state_dir: Path
    rules: Path
    repository: str
    http_port: int

    def write(
        self,
        printers: list[dict[str, Any]],
        cameras: list[dict[str, Any]] | None = None,
        site: dict[str, Any] | None = None,
    ) -> None:
        """The fleet file; ``site`` adds to (or changes) the site settings of the stack."""
        site = {
            "http_port": self.http_port,
            "state_dir": str(self.state_dir),
            "image_repository": self.repository,
            **(site or {}),
        }
        fleet = {"site": site, "printers": printers, "cameras": cameras or []}
        self.config.write_text(yaml.safe_dump(fleet, sort_keys=False))

    def run(self, *args: str) -> Result:
        env = {
            "FABFLEET_CONFIG": str(self.config),
            "FABFLEET_PROJECT": self.project,
            "FABFLEET_UDEV_RULES": str(self.rules),
        }
        return CliRunner().invoke(stack_app, list(args), env=env)

    def containers(self, client: docker.DockerClient) -> dict[str, tuple[str, str]]:
        """Service → (container id, StartedAt) of every container of the project."""
        label: Filters = {"label": f"{PROJECT_LABEL}={self.project}"}
        return {
            c.labels[SERVICE_LABEL]: (str(c.id), c.attrs["State"]["StartedAt"])
            for c in client.containers.list(all=True, filters=label)
        }


def make_stack(tmp_path: Path, repository: str) -> Stack:
    return Stack(
        project=f"fft-{uuid.uuid4().hex[:10]}",
        config=tmp_path / "fleet.yaml",
        state_dir=tmp_path / "state",
        rules=tmp_path / "rules.d" / "99-fabfleet.rules",
        repository=repository,
        http_port=free_port(),
    )


def url_printer(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "url": f"socket://127.0.0.1:{port}"}
