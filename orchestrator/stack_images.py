"""Making sure the images the stack runs are on this host, with a place for a builder."""

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
    """An image that is not on this host and the services that run it."""

    image: str
    services: tuple[str, ...]


class ImageProvider(Protocol):
    """Gets missing images onto the host (a builder, later) or raises :class:`ImagesMissing`."""

    def provide(self, client: docker.DockerClient, missing: Sequence[MissingImage]) -> None: ...


class RequireImages:
    """Provides nothing: a missing image stops `up` with what to do about it."""

    def provide(self, client: docker.DockerClient, missing: Sequence[MissingImage]) -> None:
        raise ImagesMissing(
            "\n".join(
                f"image {m.image} (for {', '.join(m.services)}) is not on this host; "
                "build or load it (docker load -i FILE), then run fabfleet up again"
                for m in missing
            )
        )


def missing_images(client: docker.DockerClient, images: Mapping[str, str]) -> list[MissingImage]:
    """Of ``images`` (service → image), those not on the host, in first-use order."""
    by_image: dict[str, list[str]] = {}
    for service, image in images.items():
        by_image.setdefault(image, []).append(service)
    missing = []
    for image, services in by_image.items():
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(MissingImage(image, tuple(services)))
    return missing


def ensure_images(
    client: docker.DockerClient, images: Mapping[str, str], provider: ImageProvider
) -> None:
    """Hand what is missing to ``provider``; check again so a provider cannot fake it."""
    missing = missing_images(client, images)
    if not missing:
        return
    provider.provide(client, missing)
    still = missing_images(client, images)
    if still:
        RequireImages().provide(client, still)
