"""What `fabfleet images --dry-run` shows: each image, the context it would be built from,
and its other inputs, found without the Docker engine and without building anything.

An installed fabfleet finds its contexts in the package (``orchestrator/share/compose/
images``) and its own wheel where :func:`~orchestrator.images.wheels.find_origin` says;
this is how a user (and the install test) sees that before a build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.images.build import MACHINE_OF, BuildSettings, cpu_version
from orchestrator.images.context import CONTEXT_OF, PYTHON_ROLES, context_files
from orchestrator.images.wheels import (
    IMAGE_ABI,
    Origin,
    WheelError,
    find_origin,
    image_platforms,
    origin_requirements,
)
from orchestrator.model.images import ROLES, image


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """One image and what it is built from (``origin`` only for the Python images)."""

    role: str
    tag: str
    context: Path
    target: str | None
    files: tuple[Path, ...]
    base: str
    arguments: tuple[tuple[str, str], ...]
    origin: Origin | None
    requirements: tuple[str, ...]
    # The wheels' platform for the CPU the image is for (None: this host's).
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every image's plan, and why fabfleet's own wheel cannot be had (None when it can)."""

    images: tuple[ImagePlan, ...]
    problem: str | None


def plan_images(settings: BuildSettings, roles: tuple[str, ...] = ROLES) -> Plan:
    """What each image of ``roles`` would be built from with ``settings``."""
    origin: Origin | None = None
    problem: str | None = None
    requires: tuple[str, ...] = ()
    if any(role in PYTHON_ROLES for role in roles):
        try:
            origin = find_origin(settings.source, settings.wheel)
            requires = tuple(origin_requirements(origin))
        except WheelError as error:
            problem = str(error)
    arguments = (
        ("UID", str(settings.uid)),
        ("GID", str(settings.gid)),
        ("VERSION", settings.version),
    )
    machine = None
    version = settings.version
    if settings.arch is not None:
        machine = MACHINE_OF[settings.arch]
        version = cpu_version(settings.version, settings.arch)
    plans = []
    for role in roles:
        directory, target = CONTEXT_OF[role]
        context = settings.contexts / directory
        python = role in PYTHON_ROLES
        plans.append(
            ImagePlan(
                role=role,
                tag=image(settings.repository, role, version),
                context=context,
                target=target,
                files=tuple(context_files(context)) if context.is_dir() else (),
                base=settings.base,
                arguments=arguments,
                origin=origin if python else None,
                requirements=requires if python else (),
                platform=image_platforms(machine)[0],
            )
        )
    return Plan(tuple(plans), problem)


def describe(plan: Plan) -> list[str]:
    """The plan as `fabfleet images --dry-run` prints it: a few lines per image."""
    lines = []
    for one in plan.images:
        target = f" (target {one.target})" if one.target else ""
        files = ", ".join(str(f) for f in one.files) or "missing"
        lines += [
            one.tag,
            f"  context: {one.context}{target}: {files}",
            f"  base: {one.base}",
            "  arguments: " + " ".join(f"{k}={v}" for k, v in one.arguments),
        ]
        if one.origin is not None:
            platform = one.platform or image_platforms()[0]
            lines += [
                f"  fabfleet: {one.origin}",
                f"  dependencies for {IMAGE_ABI} {platform}: " + ", ".join(one.requirements),
            ]
        elif one.role in PYTHON_ROLES:
            lines.append(f"  fabfleet: cannot be had: {plan.problem}")
    return lines
