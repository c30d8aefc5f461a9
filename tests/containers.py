"""One of our own images run alone in a test, with testcontainers.

The images are built on this host (the stack's images by the test session, the Debian base by
fabfleet itself), so nothing is pulled: testcontainers finds them locally. Its Ryuk reaper is
off (``TESTCONTAINERS_RYUK_DISABLED``): the reaper is an image of its own that would have to be
pulled, and these tests run offline. So every container is removed by the ``with`` block that
started it, whatever the test did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

testcontainers_config.ryuk_disabled = True

# What every service of the stack gets (compose/compose.yaml.j2): no capabilities, no new
# privileges, a read-only root file system with a tmpfs at /tmp.
HARDENED = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}

# A host path → (its path in the container, "ro" or "rw").
Volumes = dict[str | Path, tuple[str, str]]


def container(image: str, command: list[str], volumes: Volumes | None = None) -> DockerContainer:
    """A container of ``image`` to run ``command``, not started yet: use it in a ``with``."""
    made = DockerContainer(image).with_command(command)
    for host, (inside, mode) in (volumes or {}).items():
        made.with_volume_mapping(host, inside, mode)
    return made


@contextmanager
def hardened(
    image: str, command: list[str], volumes: Volumes | None = None
) -> Iterator[DockerContainer]:
    """A started container of ``image`` running ``command`` as the compose file runs a
    service; removed (with its anonymous volumes) on leaving."""
    made = container(image, command, volumes).with_kwargs(**HARDENED).with_tmpfs_mount("/tmp")
    with made:
        yield made


def run(image: str, command: list[str], volumes: Volumes | None = None) -> str:
    """Output (stdout and stderr, as written) of ``command`` run to its end in a hardened
    container of ``image``; a command that fails fails the test with that output."""
    with hardened(image, command, volumes) as started:
        status = started.wait()
        output = started.get_wrapped_container().logs(stdout=True, stderr=True).decode()
    assert status == 0, f"{command} in {image} exited with {status}:\n{output}"
    return output
