"""A printer's data volume for backup and restore: read as a tar, made anew from one.

A running print server is asked for its own data (:mod:`orchestrator.stack.printer_data_script`,
run in its container as its user, so the job records are copied with SQLite's online
backup while it prints). A volume no container runs on is read, and a new one filled, through
a container that never starts, made from a helper image with nothing in it but an empty
``/data`` of the containers' user (Docker gives a new volume that directory's owner and mode).
"""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from orchestrator.stack import printer_data_script
from orchestrator.stack.control import PROJECT_LABEL, StackError, project_containers, service_of

VOLUME_LABEL = "com.docker.compose.volume"
HELPER_REPOSITORY = "fabfleet-data-helper"
DATA = "/data"


def volume_name(project: str, printer: str) -> str:
    """The Docker name compose gives printer ``printer``'s data volume in ``project``."""
    return f"{project}_{_volume_key(printer)}"


def _volume_key(printer: str) -> str:
    return f"printer-{printer}-data"


def volume_exists(client: docker.DockerClient, project: str, printer: str) -> bool:
    try:
        client.volumes.get(volume_name(project, printer))
    except NotFound:
        return False
    return True


def running_services(client: docker.DockerClient, project: str) -> list[str]:
    """The services of ``project`` whose container is running."""
    return sorted(
        service_of(c)
        for c in project_containers(client, project)
        if c.status in ("running", "restarting")
    )


def _helper_image(client: docker.DockerClient, owner: tuple[int, int]) -> str:
    """The helper image for ``owner`` (uid, gid): an empty root with ``/data`` 0700 theirs."""
    tag = f"{HELPER_REPOSITORY}:{owner[0]}-{owner[1]}"
    with contextlib.suppress(ImageNotFound):
        client.images.get(tag)
        return tag
    root = io.BytesIO()
    with tarfile.open(fileobj=root, mode="w") as tar:
        data = tarfile.TarInfo("data")
        data.type = tarfile.DIRTYPE
        data.mode = 0o700
        data.uid, data.gid = owner
        tar.addfile(data)
    repository, version = tag.split(":")
    client.api.import_image_from_data(
        root.getvalue(), repository=repository, tag=version, changes=['CMD ["/none"]']
    )
    return tag


@contextlib.contextmanager
def _parked(
    client: docker.DockerClient, volume: str, owner: tuple[int, int]
) -> Iterator[Container]:
    """A container that is never started, with ``volume`` at /data; removed afterwards."""
    container = client.containers.create(
        _helper_image(client, owner),
        volumes={volume: {"bind": DATA, "mode": "rw"}},
        network_disabled=True,
        labels={"org.fabfleet.role": "data-helper"},
    )
    try:
        yield container
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)


def _running_printer(client: docker.DockerClient, project: str, printer: str) -> Container | None:
    for container in project_containers(client, project):
        if service_of(container) == f"printer-{printer}" and container.status == "running":
            return container
    return None


def read_printer_data(
    client: docker.DockerClient,
    project: str,
    printer: str,
    owner: tuple[int, int],
    out: BinaryIO,
    without: tuple[str, ...] = (),
) -> bool:
    """Printer ``printer``'s data as a tar written to ``out``, names relative to /data.

    True when its print server gave it (the job records already copied online); False when
    the volume was read as it lies (no print server runs on it: its database may have a
    ``-wal`` beside it, for the caller to fold in). Folders in ``without`` are left out.
    """
    running = _running_printer(client, project, printer)
    if running is not None:
        _exec_to(client, running, ["python3", "-c", _script(), *without], out, printer)
        return True
    with _parked(client, volume_name(project, printer), owner) as parked:
        try:
            stream, _ = parked.get_archive(f"{DATA}/.")
        except (APIError, NotFound) as error:
            raise StackError(f"cannot read printer {printer}'s data: {error}") from None
        for chunk in stream:
            out.write(chunk)
    return False


def _script() -> str:
    path = printer_data_script.__file__
    assert path is not None
    return Path(path).read_text("utf-8")


def _exec_to(
    client: docker.DockerClient, container: Container, command: list[str], out: BinaryIO, what: str
) -> None:
    made = client.api.exec_create(container.id, command, stdout=True, stderr=True)
    errors = bytearray()
    stream = client.api.exec_start(made["Id"], stream=True, demux=True)
    try:
        for stdout, stderr in stream:
            if stdout:
                out.write(stdout)
            if stderr:
                errors = (errors + stderr)[-4000:]
    finally:
        # The SDK leaves the exec's connection open once its stream ends.
        stream.close()
        stream._response.close()  # type: ignore[attr-defined]
    code = client.api.exec_inspect(made["Id"]).get("ExitCode")
    if code != 0:
        said = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise StackError(f"printer {what}'s print server could not copy its data: {said[0]}")


def fill_new_volume(
    client: docker.DockerClient, project: str, printer: str, owner: tuple[int, int], tar: BinaryIO
) -> str:
    """Create printer ``printer``'s data volume in ``project`` (it must not exist) with the
    files in ``tar`` (names relative to /data, owners and modes as they are in it)."""
    name = volume_name(project, printer)
    if volume_exists(client, project, printer):
        raise StackError(f"the data volume {name} exists already")
    labels = {PROJECT_LABEL: project, VOLUME_LABEL: _volume_key(printer)}
    client.volumes.create(name, labels=labels)
    try:
        with _parked(client, name, owner) as parked:
            if not parked.put_archive(DATA, tar):
                raise StackError(f"Docker did not write printer {printer}'s data")
    except BaseException:
        remove_volume(client, project, printer)
        raise
    return name


def remove_volume(client: docker.DockerClient, project: str, printer: str) -> None:
    with contextlib.suppress(NotFound):
        client.volumes.get(volume_name(project, printer)).remove(force=True)
