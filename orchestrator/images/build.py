"""Building the stack's images: which are missing or out of date, and `docker build` of those.

An image is up to date when its ``org.fabfleet.build`` label is the hash of
today's inputs (:mod:`orchestrator.images.context`). An image without that label
was not built by fabfleet (loaded with ``docker load``, pulled, a test's
stand-in): it is left alone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import docker
from docker.errors import DockerException, ImageNotFound

from orchestrator.images.base import BaseImage, host_arch, resolve_base
from orchestrator.images.context import (
    BUILD_LABEL,
    CONTEXT_OF,
    CONTEXTS,
    PYTHON_ROLES,
    BuildInputs,
    build_hash,
    context_tar,
)
from orchestrator.images.emulation import EmulationError, ensure_aarch64
from orchestrator.images.wheels import (
    Origin,
    Wheelhouse,
    cache_dir,
    find_origin,
    origin_url,
    prepare_wheels,
)
from orchestrator.model.images import ROLES, image

Say = Callable[[str], None]
# `uname -m` of each CPU images are built for, by Docker's name (the wheels' platforms).
MACHINE_OF = {"amd64": "x86_64", "arm64": "aarch64"}
State = Literal["missing", "out of date", "up to date", "not built by fabfleet"]
# How much of a failed build's log the message shows.
LOG_TAIL = 12


class ImageBuildError(Exception):
    """An image cannot be built; the message says why (and ends with the build log's tail)."""


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """What the images are built as and from, apart from the Docker engine."""

    repository: str
    version: str
    base: str
    uid: int = 10001
    gid: int = 10001
    source: Path | None = None
    cache: Path | None = None
    contexts: Path = CONTEXTS
    wheel: Path | None = None
    # Docker's name of the CPU the images are for (amd64, arm64); None: this host's.
    arch: str | None = None


def cpu_version(version: str, arch: str) -> str:
    """The tag of the images of ``version`` for ``arch``: the CPU added for another CPU than
    the host's (``0.1.0-arm64`` on an amd64 host), the host's exactly ``version``."""
    return version if arch == host_arch() else f"{version}-{arch}"


class ImageBuilder:
    """Prepares the build inputs once (base image, wheels) and builds images of the stack."""

    def __init__(self, client: docker.DockerClient, settings: BuildSettings, say: Say) -> None:
        self.client = client
        self.settings = settings
        self.say = say
        self._base: BaseImage | None = None
        self._wheels: Wheelhouse | None = None
        self._origin: Origin | None = None
        self._emulated = False

    @property
    def arch(self) -> str:
        """Docker's name of the CPU the images are for."""
        return self.settings.arch or host_arch()

    @property
    def foreign(self) -> bool:
        """Whether the images are for another CPU than this host's (built under emulation)."""
        return self.arch != host_arch()

    def tag(self, role: str) -> str:
        """``<repository>/<role>:<version>``; for another CPU than the host's,
        ``<version>-<cpu>`` (``fabfleet/instance:0.1.0-arm64`` on an amd64 host)."""
        return image(self.settings.repository, role, cpu_version(self.settings.version, self.arch))

    def origin(self) -> Origin:
        """Where fabfleet's own wheel comes from (:func:`find_origin`)."""
        if self._origin is None:
            self._origin = find_origin(self.settings.source, self.settings.wheel)
        return self._origin

    def base(self) -> BaseImage:
        if self._base is None:
            arch = self.arch if self.foreign else None
            self._base = resolve_base(self.client, self.settings.base, self.say, arch)
        return self._base

    def wheels(self) -> Wheelhouse:
        if self._wheels is None:
            cache = self.settings.cache or cache_dir()
            origin = self.origin()
            machine = MACHINE_OF[self.arch] if self.foreign else None
            wheels = prepare_wheels(origin, cache, self.say, machine)
            if wheels.version != self.settings.version:
                if origin.kind != "source":
                    raise ImageBuildError(
                        f"fabfleet's wheel from {origin} is version {wheels.version}, "
                        f"the stack runs {self.settings.version}; give the matching --wheel"
                    )
                raise ImageBuildError(
                    f"fabfleet's source in {origin.path} is version {wheels.version}, "
                    f"the stack runs {self.settings.version}; install that source "
                    "(pip install -e DIR) or give the matching --source"
                )
            # For another CPU, prepare_wheels said fabfleet goes without its C kernel.
            if not wheels.has_kernel and not self.foreign:
                self.say(
                    "wheels: fabfleet was built without its C analysis kernel (no C compiler?); "
                    "the images use the pure Python one"
                )
            self._wheels = wheels
        return self._wheels

    def inputs(self, role: str) -> BuildInputs:
        directory, target = CONTEXT_OF[role]
        return BuildInputs(
            role=role,
            context=self.settings.contexts / directory,
            target=target,
            base=self.base(),
            uid=self.settings.uid,
            gid=self.settings.gid,
            version=self.settings.version,
            wheels=self.wheels() if role in PYTHON_ROLES else None,
            platform=f"linux/{self.arch}" if self.foreign else None,
        )

    def emulate(self) -> None:
        """Make the other CPU's programs run here (the builds' ``RUN`` steps), once."""
        if not self.foreign or self._emulated:
            return
        if self.arch != "arm64":
            raise ImageBuildError(
                f"images for {self.arch} are built on an {self.arch} host; this one is "
                f"{host_arch()} (only arm64 images are built here, under emulation)"
            )
        try:
            ensure_aarch64(self.say)
        except EmulationError as error:
            raise ImageBuildError(f"cannot build {self.arch} images here: {error}") from None
        self._emulated = True

    def state(self, role: str) -> State:
        """Whether the image of ``role`` needs building (computing its inputs if it exists)."""
        try:
            present = self.client.images.get(self.tag(role))
        except ImageNotFound:
            return "missing"
        built = (present.labels or {}).get(BUILD_LABEL)
        if not built:
            return "not built by fabfleet"
        return "up to date" if built == build_hash(self.inputs(role)) else "out of date"

    def build(self, role: str, *, fresh: bool = False) -> None:
        """``docker build`` the image of ``role``; ``fresh``: without the layer cache."""
        self.emulate()
        inputs = self.inputs(role)
        tag = self.tag(role)
        labels = {
            BUILD_LABEL: build_hash(inputs),
            "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
            "org.opencontainers.image.base.name": inputs.base.name,
            "org.opencontainers.image.ref.name": tag,
        }
        args = {**inputs.build_args(), "SOURCE": origin_url(self.origin())}
        # Only for another CPU: the host's builds are asked exactly as before.
        other: dict[str, Any] = {"platform": inputs.platform} if inputs.platform else {}
        started = time.monotonic()
        log: deque[str] = deque(maxlen=LOG_TAIL)
        with context_tar(inputs) as context:
            try:
                stream = self.client.api.build(
                    fileobj=context,
                    custom_context=True,
                    tag=tag,
                    buildargs=args,
                    labels=labels,
                    rm=True,
                    forcerm=True,
                    nocache=fresh,
                    target=inputs.target,
                    pull=False,
                    decode=True,
                    **other,
                )
                error = _follow(stream, log)
            except DockerException as failure:
                error = str(failure)
        if error is not None:
            tail = "\n".join(f"  {line}" for line in log)
            raise ImageBuildError(f"building {tag} failed: {error}; the end of its log:\n{tail}")
        built = self.client.images.get(tag)
        size = int(built.attrs.get("Size", 0)) // 1_000_000
        recorded = str(built.attrs.get("Architecture", ""))
        if self.foreign and recorded != self.arch:
            raise ImageBuildError(f"{tag} was built for {recorded or 'no CPU'}, not {self.arch}")
        self.say(f"{tag}: built in {time.monotonic() - started:.0f} s ({size} MB)")


def _follow(stream: Iterator[dict[str, Any]], log: deque[str]) -> str | None:
    """Read a build's progress to its end into ``log``; its error, or None when it succeeded.

    Read to the end even after an error, so the engine's connection is done with.
    """
    error = None
    for chunk in stream:
        for line in str(chunk.get("stream", "")).splitlines():
            if line.strip():
                log.append(line.rstrip())
        if "error" in chunk and error is None:
            message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
            error = message.splitlines()[-1] if message else "unknown error"
    return error


def build_all(
    builder: ImageBuilder, roles: tuple[str, ...] = ROLES, *, rebuild: bool = False
) -> list[str]:
    """Build every image of ``roles`` that is missing or out of date (all with ``rebuild``).

    Returns the tags built; an image not built by fabfleet is replaced only with ``rebuild``.
    """
    built = []
    for role in roles:
        tag = builder.tag(role)
        state = builder.state(role)
        if state in ("up to date", "not built by fabfleet") and not rebuild:
            builder.say(f"{tag}: {state}")
            continue
        builder.say(f"{tag}: building ({'rebuild' if rebuild else state})")
        builder.build(role, fresh=rebuild)
        built.append(tag)
    return built
