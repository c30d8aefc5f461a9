"""What an image is built from: its context directory, wheels, base and arguments, and their hash.

The contexts are shipped (``compose/images/<context>/``; the print server
and the hub are two targets of one ``python`` context). The hash of every
input is stored in the image as the label ``org.fabfleet.build``: an image whose
label differs from the hash of today's inputs is out of date.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.images.base import BaseImage
from orchestrator.images.wheels import Wheelhouse, digest_files
from orchestrator.shipped import shipped

CONTEXTS = shipped("compose") / "images"
# The images that install fabfleet itself from wheels.
PYTHON_ROLES = ("instance", "hub")
# Role → (context directory, build target): the Python roles share one Dockerfile.
CONTEXT_OF = {
    "instance": ("python", "instance"),
    "hub": ("python", "hub"),
    "camera": ("camera", None),
    "proxy": ("proxy", None),
}
BUILD_LABEL = "org.fabfleet.build"


@dataclass(frozen=True, slots=True)
class BuildInputs:
    """Everything one image is built from."""

    role: str
    context: Path
    target: str | None
    base: BaseImage
    uid: int
    gid: int
    version: str
    wheels: Wheelhouse | None
    # ``linux/<cpu>`` for an image of another CPU than the host's (arm64 on amd64).
    platform: str | None = None

    def build_args(self) -> dict[str, str]:
        return {
            "BASE": self.base.name,
            "UID": str(self.uid),
            "GID": str(self.gid),
            "VERSION": self.version,
        }


def context_files(directory: Path) -> list[Path]:
    """Every file of a context directory, relative to it, in a stable order."""
    return sorted(p.relative_to(directory) for p in directory.rglob("*") if p.is_file())


def build_hash(inputs: BuildInputs) -> str:
    """sha256 of the context's files, the wheels, the base image's id and the arguments, and
    the platform of an image for another CPU (the host's images hash as they always did)."""
    digest = hashlib.sha256()
    parts = [
        f"role={inputs.role}",
        f"target={inputs.target or '-'}",
        f"context={digest_files(inputs.context, context_files(inputs.context))}",
        f"base={inputs.base.id}",
        *(f"{k}={v}" for k, v in sorted(inputs.build_args().items()) if k != "BASE"),
        f"wheels={inputs.wheels.digest if inputs.wheels else '-'}",
    ]
    if inputs.platform is not None:
        parts.append(f"platform={inputs.platform}")
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()


def _add_file(tar: tarfile.TarFile, source: Path, name: str) -> None:
    info = tarfile.TarInfo(name)
    data = source.read_bytes()
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


@contextmanager
def context_tar(inputs: BuildInputs) -> Iterator[IO[bytes]]:
    """The build context as a temporary tar file: the context directory, plus ``wheels/``."""
    with tempfile.TemporaryFile(prefix="fabfleet-context-") as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name in context_files(inputs.context):
                _add_file(tar, inputs.context / name, str(name))
            if inputs.wheels is not None:
                directory = tarfile.TarInfo("wheels")
                directory.type = tarfile.DIRTYPE
                directory.mode = 0o755
                tar.addfile(directory)
                for wheel in inputs.wheels.wheels:
                    _add_file(tar, wheel, f"wheels/{wheel.name}")
        archive.seek(0)
        yield archive
