"""The Debian image install.sh is tried in: the same base fabfleet's own images build on.

No image registry is reachable here, so that is the Debian bookworm base
fabfleet debootstraps from the mirror apt already uses (orchestrator/images/base.py),
built once and reused by these tests and by the image builds alike. Where
``debian:bookworm-slim`` is on the host (or can be pulled) it is used instead.
"""

from __future__ import annotations

import docker

from orchestrator.images.base import DEFAULT_BASE, resolve_base


def ensure_base_image() -> str:
    """The name of the base image, built with debootstrap when there is none yet."""
    client = docker.from_env()
    try:
        return resolve_base(client, DEFAULT_BASE, lambda _line: None).name
    finally:
        client.close()
