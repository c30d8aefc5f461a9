"""Making sure the images the stack runs are on this host and current, through a provider.

The provider `fabfleet up` uses builds them (:mod:`orchestrator.images.provider`);
:class:`RequireImages` only says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import docker
from docker.errors import ImageNotFound


class ImagesMissing(Exception):
    """Images are not on this host and nothing provided them; one line per image."""


@dataclass(frozen=True, slots=True)
class MissingImage:
    """An image that is not on this host (or is out of date) and the services that run it."""

    image: str
    services: tuple[str, ...]
    outdated: bool = False


class ImageProvider(Protocol):
    """Gets missing images onto the host (a builder) or raises :class:`ImagesMissing`."""

    def outdated(
        self, client: docker.DockerClient, present: Sequence[MissingImage]
    ) -> list[MissingImage]:
        """Of the images on this host, those to replace (marked ``outdated=True``)."""
        ...

    def provide(self, client: docker.DockerClient, missing: Sequence[MissingImage]) -> None:
        """Put ``missing`` (absent or out of date) on this host, or raise :class:`ImagesMissing`."""
        ...


class RequireImages:
    """Provides nothing: a missing image stops `up` with what to do about it."""

    def outdated(
        self, client: docker.DockerClient, present: Sequence[MissingImage]
    ) -> list[MissingImage]:
        return []

    def provide(self, client: docker.DockerClient, missing: Sequence[MissingImage]) -> None:
        raise ImagesMissing(
            "\n".join(
                f"image {m.image} (for {', '.join(m.services)}) is not on this host; "
                "build it (fabfleet images) or load it (docker load -i FILE), "
                "then run fabfleet up again"
                for m in missing
            )
        )


def _by_image(images: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    by_image: dict[str, tuple[str, ...]] = {}
    for service, image in images.items():
        by_image[image] = (*by_image.get(image, ()), service)
    return by_image


def _present(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def missing_images(client: docker.DockerClient, images: Mapping[str, str]) -> list[MissingImage]:
    """Of ``images`` (service → image), those not on the host, in first-use order."""
    return [
        MissingImage(image, services)
        for image, services in _by_image(images).items()
        if not _present(client, image)
    ]


def ensure_images(
    client: docker.DockerClient, images: Mapping[str, str], provider: ImageProvider
) -> None:
    """Hand what is missing or out of date to ``provider``; check again so it cannot fake it."""
    missing = missing_images(client, images)
    absent = {m.image for m in missing}
    present = [MissingImage(i, s) for i, s in _by_image(images).items() if i not in absent]
    stale = provider.outdated(client, present) if present else []
    if not missing and not stale:
        return
    order = list(_by_image(images))
    provider.provide(client, sorted([*missing, *stale], key=lambda m: order.index(m.image)))
    still = missing_images(client, images)
    if still:
        RequireImages().provide(client, still)
