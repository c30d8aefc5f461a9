"""fabfleet's arm64 print server image, built on this amd64 host under emulation, printing in
Docker, and pushed with the host's image as one manifest list to a real registry.

The arm64 Debian root the arm64 tests share (tests/images/arm64_root.py, cached per host)
is loaded as an arm64 base image; `fabfleet images --arch arm64` builds the four images
on it (``RUN`` steps emulated through binfmt_misc's ``F`` entry, the aarch64 wheels in
the context), `fabfleet images --role instance` the host's print server image.
Two arm64 containers of that image, the simulator and the print server connected to it
over TCP, print a real slicer file through the API. Then `fabfleet images --push` sends
both CPUs' images to Debian's ``docker-registry`` (the CNCF distribution registry)
running on 127.0.0.1 and joins them in the manifest list ``<version>``, which the
registry gives back and the engine pulls for arm64.

Needs root and what scripts/bootstrap's test set installs (docker.io, debootstrap,
qemu-user-static, docker-registry). Everything it creates is removed, except the cached
root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from orchestrator.images.emulation import QEMU, ensure_aarch64
from orchestrator.images.rootimage import load_root
from orchestrator.model.images import ROLES
from tests.images.arm64_print import HTTP_SECONDS, print_cube, wait, wait_ready
from tests.images.arm64_root import cached_root, report, step
from tests.images.conftest import images
from tests.orchestrator.stack_helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

VERSION = version("fabfleet")
KEY = "arm64-docker-key-0123456789"
SIM_PORT = 8250
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
REGISTRY = shutil.which("docker-registry", path="/usr/bin:/usr/sbin:/bin") or ""
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: 127.0.0.1:{port}
"""
# As the compose file runs a service: no capabilities, no new privileges, read-only root.
HARDENED: dict[str, Any] = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "tmpfs": {"/tmp": ""},
}


@dataclass(frozen=True)
class Arm64Images:
    """The print server's images of a repository on the test's registry, for both CPUs."""

    repository: str
    registry: str
    config: Path
    cache: Path
    source: Path
    base: str
    output: str

    @property
    def host(self) -> str:
        return f"{self.repository}/instance:{VERSION}"

    @property
    def arm64(self) -> str:
        return self.arm64_of("instance")

    def arm64_of(self, role: str) -> str:
        return f"{self.repository}/{role}:{VERSION}-arm64"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (Docker speaks plain HTTP to loopback)."""
    assert REGISTRY, "docker-registry is missing: run scripts/bootstrap test"
    work = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = work / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(data=work / "data", port=port))
    log = (work / "log").open("w")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log)
    try:
        address = f"127.0.0.1:{port}"
        wait("the registry answering", lambda: _answers(f"http://{address}/v2/"), 30)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def _remove_repository(client: docker.DockerClient, repository: str) -> None:
    for role in ROLES:
        for found in client.images.list(name=f"{repository}/{role}"):
            for tag in found.tags:
                with contextlib.suppress(ImageNotFound, NotFound, APIError):
                    client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def built(
    request: pytest.FixtureRequest,
    client: docker.DockerClient,
    cache: Path,
    source: Path,
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Arm64Images]:
    config = request.config
    assert os.geteuid() == 0, "this test registers the emulator and loads a root: run as root"
    assert QEMU.is_file(), "qemu-user-static is missing: run scripts/bootstrap test"
    with step(config, "emulation (binfmt_misc)"):
        ensure_aarch64(lambda line: report(config, line))
    tmp = tmp_path_factory.mktemp("arm64-docker")
    name = f"fabfleet-arm64test-{uuid.uuid4().hex[:10]}"
    repository = f"{registry}/{name}"
    base = f"{name}-base:arm64"
    fleet = tmp / "fleet.yaml"
    fleet.write_text(f"site:\n  image_repository: {repository}\n")
    try:
        root = cached_root(config, tmp)
        with step(config, "docker load of the arm64 root"):
            load_root(client, root, base, "arm64")
        with step(config, "fabfleet images --role instance (the host's, amd64)"):
            host = images(fleet, cache, "--source", str(source), "--role", "instance")
        assert host.exit_code == 0, host.output
        with step(config, "fabfleet images --arch arm64 (all four, emulated)"):
            arm = images(fleet, cache, "--source", str(source), "--arch", "arm64", "--base", base)
        assert arm.exit_code == 0, arm.output
        for line in arm.stdout.splitlines():
            report(config, line)
        yield Arm64Images(repository, registry, fleet, cache, source, base, arm.stdout)
    finally:
        _remove_repository(client, repository)
        with contextlib.suppress(ImageNotFound, NotFound, APIError):
            client.images.remove(base, force=True)


def _run_arm64(client: docker.DockerClient, image: str, command: list[str]) -> str:
    out = client.containers.run(image, command, platform="linux/arm64", remove=True, **HARDENED)
    assert isinstance(out, bytes)
    return out.decode()


def test_the_camera_and_proxy_images_run_their_programs_in_arm64(
    built: Arm64Images, client: docker.DockerClient
) -> None:
    # ustreamer and nginx are Debian's arm64 packages, installed by the emulated apt.
    camera = _run_arm64(
        client, built.arm64_of("camera"), ["sh", "-c", "uname -m; ustreamer --version"]
    )
    assert camera.split()[0] == "aarch64" and camera.split()[1][0].isdigit(), camera
    proxy = _run_arm64(client, built.arm64_of("proxy"), ["sh", "-c", "uname -m; nginx -v 2>&1"])
    assert proxy.split()[0] == "aarch64" and "nginx version: nginx/" in proxy, proxy


def _inspect(image: str, field: str) -> str:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{." + field + "}}", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_arm64_image_is_for_arm64_and_the_hosts_stays_as_it_was(
    built: Arm64Images, client: docker.DockerClient
) -> None:
    assert _inspect(built.base, "Architecture") == "arm64"
    for role in ROLES:
        assert f"{built.arm64_of(role)}: built in" in built.output
        assert _inspect(built.arm64_of(role), "Architecture") == "arm64"
    assert "images: 4 built, 0 kept" in built.output
    # The host's image keeps its name: what `up` runs here is not changed by the arm64 one.
    assert _inspect(built.host, "Architecture") == "amd64"
    # Asked again, both are up to date: the CPU is part of what makes each current.
    again = images(built.config, built.cache, "--source", str(built.source), "--role", "instance")
    assert f"{built.host}: up to date" in again.stdout, again.output
    again = images(
        built.config,
        built.cache,
        "--source",
        str(built.source),
        "--role",
        "instance",
        "--arch",
        "arm64",
        "--base",
        built.base,
    )
    assert f"{built.arm64}: up to date" in again.stdout, again.output
    out = _run_arm64(
        client,
        built.arm64,
        [
            "python3",
            "-c",
            "import os, platform, sys; from instance.analysis.ckernel import load_library;"
            "print(os.uname().machine, platform.machine(), sys.version_info[:2], load_library())",
        ],
    )
    # Debian bookworm's Python on aarch64, analysing in Python: no C kernel for aarch64.
    assert out.split(None, 2) == ["aarch64", "aarch64", "(3, 11) None\n"]


@contextlib.contextmanager
def _started(
    client: docker.DockerClient, image: str, command: list[str], **options: Any
) -> Iterator[Container]:
    volume = client.volumes.create()
    made = client.containers.run(
        image,
        command,
        platform="linux/arm64",
        detach=True,
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        **HARDENED,
        **options,
    )
    try:
        yield made
    finally:
        with contextlib.suppress(NotFound, APIError):
            made.remove(force=True)
        with contextlib.suppress(NotFound, APIError):
            volume.remove(force=True)


def _published(made: Container) -> str:
    made.reload()
    bound = made.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]
    return f"http://127.0.0.1:{bound['HostPort']}"


def test_the_arm64_print_server_prints_a_file_from_the_arm64_simulator_in_docker(
    built: Arm64Images, client: docker.DockerClient, request: pytest.FixtureRequest
) -> None:
    config = request.config
    network = client.networks.create(f"{built.base.split(':')[0]}-net")
    http = requests.Session()
    http.headers["X-Api-Key"] = KEY
    started = time.monotonic()
    try:
        sim_command = ["fabfleet-sim", "--tcp", f"0.0.0.0:{SIM_PORT}"]
        with _started(client, built.arm64, sim_command, network=network.name) as sim:
            sim.reload()
            sim_at = sim.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
            server_command = [
                "fabfleet-instance",
                "serve",
                "--port",
                f"socket://{sim_at}:{SIM_PORT}",
                "--listen",
                "0.0.0.0:8080",
                "--api-key",
                KEY,
            ]
            with _started(
                client,
                built.arm64,
                server_command,
                network=network.name,
                ports={"8080/tcp": ("127.0.0.1", None)},
            ) as server:
                url = _published(server)
                wait_ready(config, http, url, started)
                print_cube(config, http, url)
                for made in (sim, server):
                    # Both are aarch64 programs in their containers.
                    machine = made.exec_run(["uname", "-m"]).output
                    assert isinstance(machine, bytes)
                    assert machine.decode().strip() == "aarch64", machine
                    made.stop(timeout=60)
                    # ... and stop cleanly when Docker asks them to (SIGTERM).
                    made.reload()
                    assert made.attrs["State"]["ExitCode"] == 0, made.logs().decode()[-2000:]
    finally:
        http.close()
        network.remove()


def _registry_get(url: str, accept: str) -> requests.Response:
    found = requests.get(url, headers={"Accept": accept}, timeout=HTTP_SECONDS)
    assert found.status_code == 200, (url, found.status_code, found.text)
    return found


def test_both_cpus_are_pushed_as_one_manifest_list(
    built: Arm64Images, client: docker.DockerClient, request: pytest.FixtureRequest
) -> None:
    arm64_id = client.images.get(built.arm64).id
    host_id = client.images.get(built.host).id
    with step(request.config, "fabfleet images --arch arm64 --role instance --push"):
        pushed = images(
            built.config,
            built.cache,
            "--source",
            str(built.source),
            "--role",
            "instance",
            "--arch",
            "arm64",
            "--base",
            built.base,
            "--push",
        )
    assert pushed.exit_code == 0, pushed.output
    assert f"{built.host}: manifest list of amd64, arm64 pushed sha256:" in pushed.stdout
    # The host keeps its own tags only (the -amd64 one was for the push).
    assert sorted(client.images.get(built.host).tags) == [built.host]

    # What the registry serves under <version>: a manifest list of both CPUs' images.
    name = built.repository.split("/", 1)[1]
    v2 = f"http://{built.registry}/v2/{name}/instance"
    listed = _registry_get(f"{v2}/manifests/{VERSION}", LIST)
    assert listed.headers["Content-Type"] == LIST
    entries = listed.json()["manifests"]
    assert sorted(e["platform"]["architecture"] for e in entries) == ["amd64", "arm64"]
    for entry in entries:
        assert entry["platform"]["os"] == "linux"
        # Each entry is the image built here for that CPU (its config is the image's id).
        manifest = _registry_get(f"{v2}/manifests/{entry['digest']}", MANIFEST).json()
        config_digest = manifest["config"]["digest"]
        expected = arm64_id if entry["platform"]["architecture"] == "arm64" else host_id
        assert config_digest == expected
        blob = _registry_get(f"{v2}/blobs/{config_digest}", "*/*").json()
        assert blob["architecture"] == entry["platform"]["architecture"]
    for cpu in ("amd64", "arm64"):
        one = _registry_get(f"{v2}/manifests/{VERSION}-{cpu}", MANIFEST)
        assert one.headers["Docker-Content-Digest"] in {e["digest"] for e in entries}

    # A node pulls the list's name and gets its own CPU's image: here, as an arm64 node would.
    client.images.remove(built.arm64)
    client.images.remove(built.host)
    with step(request.config, "docker pull --platform linux/arm64 of the list"):
        pulled = client.images.pull(f"{built.repository}/instance", VERSION, platform="linux/arm64")
    assert pulled.id == arm64_id
    assert pulled.attrs["Architecture"] == "arm64"
