"""A root file system (a tar) made into a Docker image for a given CPU, with ``docker load``.

``docker import --platform linux/arm64`` would be the obvious way, but Debian's engine
(20.10) takes only the OS from that platform and records the image as the engine's
own CPU: an arm64 root imported on an amd64 host is labelled amd64, and ``docker run
--platform linux/arm64`` or ``docker build --platform linux/arm64`` then do not find
it. ``docker load`` keeps the image configuration it is given, so the root is loaded
as a one-layer image in the layout ``docker save`` writes (``manifest.json``, the
configuration, the layer), with ``architecture`` set to the CPU it is for.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import docker
from docker.errors import DockerException

_CHUNK = 1 << 20
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RootImageError(Exception):
    """The root file system cannot be made into an image; the message says why."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(layer_digest: str, arch: str, cmd: Sequence[str], created: str) -> bytes:
    """The image configuration of a root whose (uncompressed) layer has ``layer_digest``."""
    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {"Env": [f"PATH={_PATH}"], "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created": created, "created_by": "fabfleet: a Debian root (debootstrap)"}],
    }
    return json.dumps(config, sort_keys=True).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def load_root(
    client: docker.DockerClient,
    root_tar: Path,
    tag: str,
    arch: str,
    *,
    cmd: Sequence[str] = ("bash",),
    created: str = "1970-01-01T00:00:00Z",
) -> str:
    """Load the root file system in ``root_tar`` as the image ``tag`` for ``arch`` (Docker's
    name: amd64, arm64); its id. The engine must then say the image is for ``arch``."""
    config = image_config(_sha256(root_tar), arch, cmd, created)
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]
    with tempfile.TemporaryFile(prefix="fabfleet-root-image-") as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            _add(tar, config_name, config)
            tar.add(str(root_tar), arcname="layer/layer.tar")
            _add(tar, "manifest.json", json.dumps(manifest).encode())
        archive.seek(0)
        try:
            client.images.load(archive)
            image = client.images.get(tag)
        except DockerException as error:
            raise RootImageError(f"cannot load the Debian root as {tag}: {error}") from None
    recorded = str(image.attrs.get("Architecture", ""))
    if recorded != arch:
        raise RootImageError(
            f"the Docker engine recorded {tag} as {recorded or 'no CPU'}, not {arch}"
        )
    return str(image.id)
