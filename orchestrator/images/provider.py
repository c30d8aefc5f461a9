"""The image provider `fabfleet up` uses: it builds the stack's missing or out-of-date images."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import docker
import typer

from orchestrator.fleet.model import Site
from orchestrator.images.base import BaseImageError
from orchestrator.images.build import BuildSettings, ImageBuilder, ImageBuildError, Say
from orchestrator.images.context import CONTEXTS
from orchestrator.images.wheels import WheelError
from orchestrator.model.images import ROLES
from orchestrator.stack.images import ImagesMissing, MissingImage

BUILD_ERRORS = (BaseImageError, WheelError, ImageBuildError)


def _echo(line: str) -> None:
    typer.echo(line)


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    client: int
    version: str


class BuildImages:
    """Builds ``<site.image_repository>/<role>:<version>`` images on ``site.image_base``.

    Images of another repository, or not built by fabfleet, are left alone. While it
    only checks whether images are current, what it finds (base, cached wheels) is
    held back, and said only when something is built.
    """

    def __init__(
        self,
        site: Site | None = None,
        *,
        source: Path | None = None,
        wheel: Path | None = None,
        cache: Path | None = None,
        contexts: Path = CONTEXTS,
        say: Say = _echo,
    ) -> None:
        self.site = site or Site()
        self.source = source
        self.wheel = wheel
        self.cache = cache
        self.contexts = contexts
        self.say = say
        self._builders: dict[_Key, ImageBuilder] = {}
        self._held: list[str] = []

    def for_site(self, site: Site) -> BuildImages:
        """The same provider for the fleet's site (repository, base image, container user)."""
        return BuildImages(
            site,
            source=self.source,
            wheel=self.wheel,
            cache=self.cache,
            contexts=self.contexts,
            say=self.say,
        )

    def _builder(self, client: docker.DockerClient, version: str) -> ImageBuilder:
        key = _Key(id(client), version)
        if key not in self._builders:
            settings = BuildSettings(
                repository=self.site.image_repository,
                version=version,
                base=self.site.image_base,
                uid=self.site.container_uid,
                gid=self.site.container_gid,
                source=self.source,
                cache=self.cache,
                contexts=self.contexts,
                wheel=self.wheel,
            )
            self._builders[key] = ImageBuilder(client, settings, self._held.append)
        return self._builders[key]

    def role_of(self, image: str) -> tuple[str, str] | None:
        """(role, version) of an image of this site's repository, else None."""
        name, _, version = image.rpartition(":")
        repository, _, role = name.rpartition("/")
        if repository != self.site.image_repository or role not in ROLES or not version:
            return None
        return role, version

    def outdated(
        self, client: docker.DockerClient, present: Sequence[MissingImage]
    ) -> list[MissingImage]:
        stale = []
        for wanted in present:
            found = self.role_of(wanted.image)
            if found is None:
                continue
            role, version = found
            try:
                state = self._builder(client, version).state(role)
            except BUILD_ERRORS as error:
                first = str(error).splitlines()[0]
                self.say(f"{wanted.image}: cannot tell whether it is up to date ({first})")
                continue
            if state == "out of date":
                stale.append(dataclasses.replace(wanted, outdated=True))
        return stale

    def provide(self, client: docker.DockerClient, missing: Sequence[MissingImage]) -> None:
        for wanted in missing:
            found = self.role_of(wanted.image)
            if found is None:
                continue  # not ours to build: `up` says it is missing
            role, version = found
            builder = self._builder(client, version)
            builder.say = self._speak
            why = "out of date" if wanted.outdated else "missing"
            self._speak(f"{wanted.image}: building ({why}; for {', '.join(wanted.services)})")
            try:
                builder.build(role)
            except BUILD_ERRORS as error:
                raise ImagesMissing(str(error)) from None

    def _speak(self, line: str) -> None:
        """Say what was held back first, then ``line``."""
        held, self._held[:] = list(self._held), []
        for earlier in held:
            self.say(earlier)
        self.say(line)
