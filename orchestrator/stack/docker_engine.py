"""Reaching the Docker engine, with one line saying what to do for each way that fails."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping

import docker
from docker.errors import DockerException

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Where distributions install the daemon; sbin is often not on a user's PATH.
_DAEMON_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin")


class EngineError(Exception):
    """The Docker engine cannot be used; the message says why and what to do."""


def engine_host(environ: Mapping[str, str]) -> str:
    """The engine's address: DOCKER_HOST, else the standard socket."""
    return environ.get("DOCKER_HOST") or DEFAULT_HOST


def engine_installed(path: str | None) -> bool:
    """Whether a Docker daemon is installed on this host (on ``path`` or a standard place)."""
    search = os.pathsep.join(p for p in (path, *_DAEMON_DIRS) if p)
    return shutil.which("dockerd", path=search) is not None


def check_socket(path: str, *, installed: bool, host_given: bool) -> None:
    """Connect to the engine's Unix socket at ``path``; raise :class:`EngineError` if it fails."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(path)
    except FileNotFoundError:
        if not installed and not host_given:
            raise EngineError(
                "the Docker engine is not installed; install it "
                "(Debian/Ubuntu: apt-get install docker.io) and start it"
            ) from None
        raise EngineError(
            f"the Docker engine is not running (no socket at {path}); start it "
            "(systemctl start docker, or run dockerd as root), or set DOCKER_HOST "
            "to a running engine"
        ) from None
    except PermissionError:
        raise EngineError(
            f"no permission to use the Docker engine socket {path}; add your user to the "
            "docker group (usermod -aG docker USER, then log in again) or run fabfleet as root"
        ) from None
    except ConnectionRefusedError:
        raise EngineError(
            f"the Docker engine is not running ({path} refuses connections); start it "
            "(systemctl start docker, or run dockerd as root)"
        ) from None
    except OSError as error:
        raise EngineError(
            f"cannot reach the Docker engine at {path}: {error.strerror or error}"
        ) from None
    finally:
        sock.close()


def connect(environ: Mapping[str, str] | None = None) -> docker.DockerClient:
    """A client of the running engine, after checking it answers; the caller closes it."""
    env = dict(os.environ if environ is None else environ)
    host = engine_host(env)
    if host.startswith("unix://"):
        check_socket(
            host.removeprefix("unix://"),
            installed=engine_installed(env.get("PATH")),
            host_given="DOCKER_HOST" in env,
        )
    try:
        client = docker.from_env(environment=env)
    except DockerException as error:
        raise EngineError(f"cannot use the Docker engine at {host}: {error}") from None
    try:
        client.ping()
    except DockerException as error:
        client.close()
        raise EngineError(f"the Docker engine at {host} does not answer: {error}") from None
    return client
