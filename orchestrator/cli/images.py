"""`fabfleet images`: build the stack's images (the ones `up` would build, and all on request),
or say what each is built from (``--dry-run``)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer
from docker.errors import DockerException

from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.fleet.file import DEFAULT_PATH
from orchestrator.fleet.model import Site
from orchestrator.images.base import ARCHES
from orchestrator.images.build import BuildSettings, ImageBuilder, build_all
from orchestrator.images.plan import describe, plan_images
from orchestrator.images.provider import BUILD_ERRORS
from orchestrator.images.push import PushError, push_images, push_registry
from orchestrator.images.wheels import cache_dir
from orchestrator.model.images import ROLES
from orchestrator.stack.docker_engine import EngineError, connect


def images_command(
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Build every image again, without Docker's layer cache (fresh Debian packages).",
        ),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option("--base", help="Base image to build on (default: site.image_base)."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="fabfleet's source tree (default: the checkout fabfleet runs from).",
            file_okay=False,
            exists=True,
        ),
    ] = None,
    wheel: Annotated[
        Path | None,
        typer.Option(
            "--wheel",
            help="fabfleet's wheel of this version, for an install without its source "
            "(default: the wheel pip installed fabfleet from, when it is still there).",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Build nothing: say what each image would be built from (no Docker needed).",
        ),
    ] = False,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help="The CPU the images are for: amd64 or arm64 (default: this host's). On an "
            "amd64 host, arm64 images are built under emulation (qemu-user-static) and tagged "
            "<version>-arm64.",
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="Only this image (instance, camera, hub or proxy); repeat for more "
            "(default: all four).",
        ),
    ] = None,
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="Then push the images to the registry site.image_repository names, each CPU's "
            "as <version>-<cpu>, joined in one manifest list <version>.",
        ),
    ] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Build the stack's images (instance, camera, hub, proxy) that are missing or out of date."""
    # Before `fabfleet init` there is no fleet file: the defaults then.
    site = load(config).site if config.exists() or config != DEFAULT_PATH else Site()
    if arch is not None and arch not in ARCHES:
        fail(f"--arch {arch}: fabfleet builds images for {' and '.join(ARCHES)}")
    if push:
        try:
            push_registry(site.image_repository)
        except PushError as error:
            fail(str(error))
    roles = tuple(role or ROLES)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        fail(f"--role {unknown[0]}: the images are {', '.join(ROLES)}")
    settings = BuildSettings(
        repository=site.image_repository,
        version=version("fabfleet"),
        base=base or site.image_base,
        uid=site.container_uid,
        gid=site.container_gid,
        source=source,
        cache=cache_dir(),
        wheel=wheel,
        arch=arch,
    )
    if dry_run:
        plan = plan_images(settings, roles)
        for line in describe(plan):
            typer.echo(line)
        if plan.problem is not None:
            fail(plan.problem)
        typer.echo(f"images: {len(plan.images)} to build from the above, nothing built (--dry-run)")
        return
    try:
        client = connect()
    except EngineError as error:
        fail(str(error))
    try:
        builder = ImageBuilder(client, settings, typer.echo)
        built = build_all(builder, roles, rebuild=rebuild)
        typer.echo(f"images: {len(built)} built, {len(roles) - len(built)} kept")
        if push:
            pushed = push_images(client, builder.settings, roles, typer.echo)
            typer.echo(f"images: {len(pushed)} pushed, each a manifest list of its CPUs")
    except (*BUILD_ERRORS, PushError) as error:
        fail(str(error), every_line=True)
    except DockerException as error:
        fail(f"the Docker engine refused: {error}")
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    """Add `images` to ``app``."""
    app.command("images")(images_command)
