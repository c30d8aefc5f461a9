"""`fabfleet images --push`: each CPU's image to the registry, joined in one manifest list.

The registry is the one ``site.image_repository`` names (``registry.farm.lan:5000/
fabfleet``). For each image, every CPU's build on this host (the host's own tag
``<version>``, another CPU's ``<version>-<cpu>``) is pushed as ``<version>-<cpu>``, and
the manifest list ``<version>`` names them, so each node (an amd64 hub, arm64 Pis)
pulls the one for its CPU under the name the stack runs. The classic builder makes
no multi-platform image itself: the list is made with ``docker manifest create`` and
``docker manifest push`` (the Docker command, which also has the registry's login
from ``docker login``). A registry on this host (localhost, 127.0.0.0/8) is spoken
to over plain HTTP, as the engine itself allows by default.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import subprocess
from collections.abc import Callable, Iterable

import docker
from docker.errors import DockerException, ImageNotFound

from orchestrator.images.base import ARCHES
from orchestrator.images.build import BuildSettings, cpu_version
from orchestrator.model.images import image

Say = Callable[[str], None]
# `docker manifest` asks the registry once per image: generous, but bounded.
MANIFEST_SECONDS = 300.0


class PushError(Exception):
    """The images cannot be pushed; the message says why."""


def registry_of(repository: str) -> str | None:
    """The registry host (and port) ``repository`` starts with, as Docker reads a name."""
    first, slash, _ = repository.partition("/")
    if not slash:
        return None
    if "." in first or ":" in first or first == "localhost":
        return first
    return None


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` is on this host (Docker then allows plain HTTP)."""
    if registry.startswith("["):  # an IPv6 address, [::1]:5000
        host = registry[1 : registry.find("]")]
    else:
        host = registry.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def push_registry(repository: str) -> str:
    """The registry ``repository`` (``site.image_repository``) is pushed to; a repository
    without one (``fabfleet``: Docker Hub's library) is refused."""
    registry = registry_of(repository)
    if registry is None:
        raise PushError(
            f"site.image_repository {repository} names no registry to push to; set it to your "
            "registry's path (e.g. registry.farm.lan:5000/fabfleet)"
        )
    return registry


def _push(client: docker.DockerClient, name: str, tag: str) -> None:
    try:
        stream = client.api.push(name, tag=tag, stream=True, decode=True)
        error = None
        for chunk in stream:  # read to the end, so the engine is done with the connection
            if "error" in chunk and error is None:
                error = str(chunk.get("errorDetail", {}).get("message") or chunk["error"])
    except DockerException as failure:
        error = str(failure)
    if error is not None:
        raise PushError(f"pushing {name}:{tag} failed: {error.strip()}")


def _docker(*args: str) -> str:
    command = shutil.which("docker")
    if command is None:
        raise PushError(
            "the docker command is not installed; it makes the manifest lists "
            "(apt-get install docker.io)"
        )
    try:
        done = subprocess.run(
            [command, *args],
            capture_output=True,
            text=True,
            timeout=MANIFEST_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PushError(f"docker {' '.join(args)}: no answer in {MANIFEST_SECONDS:.0f} s") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip()
        raise PushError(f"docker {' '.join(args)} failed (exit status {done.returncode}): {why}")
    return done.stdout.strip()


def manifest_list(name: str, members: Iterable[str], *, insecure: bool) -> str:
    """Create and push the manifest list ``name`` of the pushed images ``members``; its
    digest. A list of that name made here before is replaced."""
    flag = ("--insecure",) if insecure else ()
    with contextlib.suppress(PushError):
        _docker("manifest", "rm", name)  # a stale local list would refuse a new one
    _docker("manifest", "create", *flag, name, *members)
    out = _docker("manifest", "push", *flag, "--purge", name)
    return out.splitlines()[-1] if out else ""


def push_images(
    client: docker.DockerClient, settings: BuildSettings, roles: Iterable[str], say: Say
) -> list[str]:
    """Push every CPU's image of ``roles`` built here and one manifest list per image; the
    lists' names. An image with no build here for any CPU stops it."""
    repository = settings.repository
    insecure = is_loopback(push_registry(repository))
    lists = []
    for role in roles:
        name = image(repository, role, settings.version)
        members = []
        for arch in ARCHES:
            members += _push_one(client, settings, role, arch, say)
        if not members:
            raise PushError(f"{name} is not built on this host for any CPU; build it first")
        digest = manifest_list(name, members, insecure=insecure)
        cpus = ", ".join(m.rsplit("-", 1)[1] for m in members)
        say(f"{name}: manifest list of {cpus} pushed {digest}".rstrip())
        lists.append(name)
    return lists


def _push_one(
    client: docker.DockerClient, settings: BuildSettings, role: str, arch: str, say: Say
) -> list[str]:
    """Push ``role``'s image for ``arch`` as ``<version>-<arch>``, when it is built here."""
    local = image(settings.repository, role, cpu_version(settings.version, arch))
    try:
        found = client.images.get(local)
    except ImageNotFound:
        return []
    recorded = str(found.attrs.get("Architecture", ""))
    if recorded != arch:
        raise PushError(f"{local} is for {recorded or 'no CPU'}, not {arch}; build it again")
    tag = f"{settings.version}-{arch}"
    remote = image(settings.repository, role, tag)
    added = remote != local
    if added:
        found.tag(f"{settings.repository}/{role}", tag)
    try:
        _push(client, f"{settings.repository}/{role}", tag)
    finally:
        if added:  # the host keeps its own tags only
            with contextlib.suppress(ImageNotFound):
                client.images.remove(remote, noprune=True)
    say(f"{remote}: pushed")
    return [remote]
