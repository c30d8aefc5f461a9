"""How the image a service runs is named: one image per role, tagged with fabfleet's version."""

from __future__ import annotations

from typing import Literal

ImageRole = Literal["instance", "camera", "hub", "proxy"]
# Every image the stack runs; a simulator runs the print server's image.
ROLES: tuple[ImageRole, ...] = ("instance", "camera", "hub", "proxy")


def image(repository: str, role: str, version: str) -> str:
    """The image a service of ``role`` (one of :data:`ROLES`) runs.

    ``<repository>/<role>:<version>``, the repository from ``site.image_repository``.
    """
    return f"{repository}/{role}:{version}"
