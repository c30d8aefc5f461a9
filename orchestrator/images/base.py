"""The base image fabfleet's images are built on: on this host, pulled, or made with debootstrap.

Users with a registry get ``site.image_base`` (the official ``debian:bookworm-slim``
by default) as usual. Where no registry is reachable, fabfleet builds a minimal
Debian bookworm itself (``debootstrap --variant=minbase`` from the mirror apt
already uses, then ``docker import``) and tags it
``fabfleet/debian-base:bookworm-<hash>``; the hash covers the recipe and the
mirror, so it is built once and reused.

The same recipe makes a Debian root file system for another CPU than the host's
(:func:`root_recipe` and :func:`debian_root`): an arm64 one on an amd64 host, with
``debootstrap --arch arm64`` under emulation (:mod:`orchestrator.images.emulation`),
for the images of farms that run Raspberry Pis.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from docker.models.images import Image

from orchestrator.images.emulation import EmulationError, ensure_aarch64
from orchestrator.images.mirror import APT_DIR, MIRROR_ENV, find_mirror
from orchestrator.images.rootimage import RootImageError, load_root

SUITE = "bookworm"
# Also in the base's apt sources when this host's apt has them: fixes and security updates.
UPDATE_SUITES = ("bookworm-updates", "bookworm-security")
DEFAULT_BASE = "debian:bookworm-slim"
LOCAL_BASE_REPOSITORY = "fabfleet/debian-base"
# Bump when the recipe below changes, so every host builds the new base.
RECIPE = "1"
# Docker's names for the CPUs fabfleet builds for, by `uname -m`.
DOCKER_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# The architectures a Debian root can be made for (Debian's and Docker's names agree).
ARCHES = ("amd64", "arm64")
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
# Like Debian's slim images: no manuals or documentation (copyright files stay).
_DPKG_SLIM = """\
# fabfleet's local base: like the slim images, no manuals or documentation.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
"""
_APT_SLIM = """\
// fabfleet's local base: only what a package needs, no translations.
APT::Install-Recommends "false";
Acquire::Languages "none";
"""

Say = Callable[[str], None]


class BaseImageError(Exception):
    """No base image can be had; the message says what to do."""


@dataclass(frozen=True, slots=True)
class BaseImage:
    """The base image's name, as given to ``FROM``, and its id (part of the build hash)."""

    name: str
    id: str


def host_arch() -> str:
    """Docker's name for this host's CPU (amd64, arm64)."""
    machine = platform.machine()
    try:
        return DOCKER_ARCH[machine]
    except KeyError:
        raise BaseImageError(
            f"fabfleet builds images for amd64 and arm64 hosts; this one is {machine}"
        ) from None


def _image_arch(image: Image) -> str:
    return str(image.attrs.get("Architecture", ""))


def _checked(image: Image, name: str, arch: str | None = None) -> BaseImage:
    """``image`` as the base, when it is for ``arch`` (default: this host's CPU)."""
    found = _image_arch(image)
    if arch is None or arch == host_arch():
        if found and found != host_arch():
            raise BaseImageError(
                f"base image {name} is for {found}, this host is {host_arch()}; "
                "images are built for the host that runs them (or give --arch "
                f"{found} to build images for {found})"
            )
    elif found != arch:
        raise BaseImageError(
            f"base image {name} is for {found or 'no CPU'}, the images are for {arch}; "
            f"give a Debian bookworm image for {arch} (--base), or none to build one"
        )
    return BaseImage(name, str(image.id))


def _local(client: docker.DockerClient, name: str) -> Image | None:
    try:
        return client.images.get(name)
    except ImageNotFound:
        return None


def resolve_base(
    client: docker.DockerClient, name: str, say: Say, arch: str | None = None
) -> BaseImage:
    """The base image to build on, for this host's CPU or ``arch``.

    ``name`` when it is on this host; else, for the default ``debian:bookworm-slim``,
    the Debian base fabfleet built here before, else ``name`` pulled from its
    registry, else a Debian base built now with debootstrap. Any other ``name``
    must be on this host or pullable.

    For another CPU than the host's (``arch``: arm64 on an amd64 host), ``name`` must
    be on this host and for that CPU; the default ``debian:bookworm-slim`` is then
    the Debian base fabfleet debootstraps for ``arch`` (nothing is pulled: a pull
    would give the host's tag to the other CPU's image).
    """
    if arch is not None and arch != host_arch():
        return _foreign_base(client, name, say, arch)
    image = _local(client, name)
    if image is not None:
        say(f"base image {name}: on this host")
        return _checked(image, name)
    if name == DEFAULT_BASE:
        built = _built_before(client)
        if built is not None:
            say(f"base image {built.name}: on this host (built with debootstrap, for {name})")
            return built
    say(f"base image {name}: not on this host, pulling it")
    try:
        image = client.images.pull(name)
    except DockerException as error:
        why = str(getattr(error, "explanation", None) or error).strip().splitlines()[0]
        if name != DEFAULT_BASE:
            raise BaseImageError(
                f"base image {name} is not on this host and cannot be pulled ({why}); load it "
                f"(docker load -i FILE), or remove site.image_base to use {DEFAULT_BASE} or a "
                "Debian base fabfleet builds itself"
            ) from None
        say(f"base image {name}: cannot pull it ({why}); building a Debian {SUITE} base instead")
        return local_debian_base(client, say)
    return _checked(image, name)


def _foreign_base(client: docker.DockerClient, name: str, say: Say, arch: str) -> BaseImage:
    image = _local(client, name)
    if image is not None and (name != DEFAULT_BASE or _image_arch(image) == arch):
        say(f"base image {name}: on this host")
        return _checked(image, name, arch)
    if name != DEFAULT_BASE:
        raise BaseImageError(
            f"base image {name} is not on this host; for {arch} images, load a Debian bookworm "
            f"image for {arch} (docker load -i FILE, or docker pull --platform linux/{arch} "
            "and docker tag) and give it with --base, or give none to build one"
        )
    built = _built_before(client, arch)
    if built is not None:
        say(f"base image {built.name}: on this host (built with debootstrap, for {arch})")
        return built
    return local_debian_base(client, say, arch=arch)


def _built_before(client: docker.DockerClient, arch: str | None = None) -> BaseImage | None:
    mirror = find_mirror(SUITE)
    if mirror is None:
        return None
    tag = local_base_tag(_sources(mirror, APT_DIR), _includes(mirror), arch or host_arch())
    image = _local(client, tag)
    return None if image is None else BaseImage(tag, str(image.id))


def _includes(mirror: str) -> tuple[str, ...]:
    """Packages beyond minbase: an https mirror needs the CA certificates for apt in the builds."""
    return ("ca-certificates",) if mirror.startswith("https:") else ()


def _sources(mirror: str, apt_dir: Path) -> str:
    """The base's apt sources: ``mirror`` for bookworm, and this host's update mirrors."""
    lines = [f"deb {mirror} {SUITE} main"]
    for suite in UPDATE_SUITES:
        found = find_mirror(suite, apt_dir, {})
        if found is not None:
            lines.append(f"deb {found} {suite} main")
    return "\n".join(lines) + "\n"


def recipe_digest(sources: str, includes: tuple[str, ...], arch: str) -> str:
    """sha256 of what a debootstrapped root is made from: the same inputs, the same root."""
    recipe = "\0".join((RECIPE, sources, ",".join(includes), arch, _DPKG_SLIM, _APT_SLIM))
    return hashlib.sha256(recipe.encode()).hexdigest()


def local_base_tag(sources: str, includes: tuple[str, ...], arch: str) -> str:
    """The tag of the base built from ``sources``: the same inputs give the same tag."""
    return f"{LOCAL_BASE_REPOSITORY}:{SUITE}-{recipe_digest(sources, includes, arch)[:12]}"


def local_debian_base(
    client: docker.DockerClient,
    say: Say,
    *,
    apt_dir: Path = APT_DIR,
    search: str | None = None,
    arch: str | None = None,
) -> BaseImage:
    """The debootstrapped Debian base for this host's mirror; built when not there yet.

    ``apt_dir``: apt's configuration; ``search``: where to look for debootstrap
    (default: PATH and the sbin directories); ``arch``: another CPU than the host's
    (arm64 on amd64: debootstrapped under emulation, :func:`foreign_debian_base`).
    """
    if arch is not None and arch != host_arch():
        return foreign_debian_base(client, say, arch, apt_dir=apt_dir, search=search)
    mirror = find_mirror(SUITE, apt_dir)
    if mirror is None:
        raise BaseImageError(
            f"no Debian {SUITE} mirror in apt's configuration (/etc/apt/sources.list.d/*.sources, "
            f"/etc/apt/sources.list) to build a base image from; set {MIRROR_ENV}=URL, or load a "
            "Debian bookworm image (docker load -i FILE) and set site.image_base to it"
        )
    includes = _includes(mirror)
    sources = _sources(mirror, apt_dir)
    tag = local_base_tag(sources, includes, host_arch())
    image = _local(client, tag)
    if image is not None:
        say(f"base image {tag}: on this host (built earlier with debootstrap)")
        return BaseImage(tag, str(image.id))
    debootstrap = _find_debootstrap(search)
    if debootstrap is None:
        raise BaseImageError(
            "debootstrap is not installed; install it (apt-get install debootstrap) so fabfleet "
            "can build a Debian base image, or load one (docker load -i FILE) and set "
            "site.image_base to it"
        )
    if os.geteuid() != 0:
        raise BaseImageError(
            "building a Debian base image with debootstrap needs root; run fabfleet images as "
            "root once, or load a Debian bookworm image (docker load -i FILE) and set "
            "site.image_base to it"
        )
    say(f"base image {tag}: debootstrap --variant=minbase {SUITE} from {mirror} (a minute or two)")
    work = Path(tempfile.mkdtemp(prefix="fabfleet-base-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    try:
        root = work / "rootfs"
        _make_root(debootstrap, mirror, includes, sources, host_arch(), root)
        archive = _packed(root, work / "rootfs.tar", "docker import")
        repository, _, version = tag.rpartition(":")
        client.api.import_image_from_file(
            str(archive), repository=repository, tag=version, changes=['CMD ["bash"]']
        )
    finally:
        _remove(work)
    image = client.images.get(tag)
    say(f"base image {tag}: built ({image.attrs.get('Size', 0) // 1_000_000} MB)")
    return BaseImage(tag, str(image.id))


def _packed(root: Path, archive: Path, what: str) -> Path:
    """``root`` as a tar with numeric owners, for ``what`` (docker import or load)."""
    packed = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."],
        capture_output=True,
        text=True,
        check=False,
    )
    if packed.returncode != 0:
        raise BaseImageError(f"cannot pack the Debian base for {what}: {packed.stderr}")
    return archive


def foreign_debian_base(
    client: docker.DockerClient,
    say: Say,
    arch: str,
    *,
    apt_dir: Path = APT_DIR,
    search: str | None = None,
) -> BaseImage:
    """The debootstrapped Debian base for ``arch`` (not the host's CPU), tagged like the
    host's (``local_base_tag`` of its recipe); made with :func:`debian_root` and loaded
    with its CPU (:func:`orchestrator.images.rootimage.load_root`) when not there yet."""
    recipe = root_recipe(arch, apt_dir=apt_dir)
    tag = local_base_tag(recipe.sources, recipe.includes, arch)
    image = _local(client, tag)
    if image is not None:
        say(f"base image {tag}: on this host (built earlier with debootstrap, for {arch})")
        return _checked(image, tag, arch)
    say(f"base image {tag}: debootstrap of Debian {SUITE} for {arch} (emulated: a few minutes)")
    work = Path(tempfile.mkdtemp(prefix="fabfleet-base-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    try:
        root = work / "rootfs"
        debian_root(recipe, root, say, search=search)
        archive = _packed(root, work / "rootfs.tar", "docker load")
        try:
            load_root(client, archive, tag, arch)
        except RootImageError as error:
            raise BaseImageError(str(error)) from None
    finally:
        _remove(work)
    image = client.images.get(tag)
    say(f"base image {tag}: built for {arch} ({image.attrs.get('Size', 0) // 1_000_000} MB)")
    return BaseImage(tag, str(image.id))


def _find_debootstrap(search: str | None) -> str | None:
    if search is None:
        search = os.pathsep.join((os.environ.get("PATH", ""), *_SBIN))
    return shutil.which("debootstrap", path=search)


def _make_root(
    debootstrap: str, mirror: str, includes: tuple[str, ...], sources: str, arch: str, root: Path
) -> None:
    """debootstrap, slimmed like the slim images, with the base's apt sources."""
    _debootstrap(debootstrap, mirror, includes, root, arch)
    _slim(root)
    (root / "etc/apt/sources.list").write_text(sources)


@dataclass(frozen=True, slots=True)
class RootRecipe:
    """What a Debian root file system is made from: its CPU, the mirror apt uses here, its
    apt sources and the packages beyond minbase; ``key`` names it (e.g. for a cache)."""

    arch: str
    mirror: str
    sources: str
    includes: tuple[str, ...]

    @property
    def key(self) -> str:
        return recipe_digest(self.sources, self.includes, self.arch)


def root_recipe(arch: str, include: Iterable[str] = (), *, apt_dir: Path = APT_DIR) -> RootRecipe:
    """The recipe of a Debian bookworm root for ``arch`` (amd64 or arm64) with ``include``
    installed beyond minbase, from the mirror apt already uses on this host.

    With no ``include``, the recipe for this host's CPU is that of the local base image
    (``local_base_tag`` of it is that image's tag).
    """
    if arch not in ARCHES:
        raise BaseImageError(f"fabfleet makes Debian roots for {' and '.join(ARCHES)}, not {arch}")
    mirror = find_mirror(SUITE, apt_dir)
    if mirror is None:
        raise BaseImageError(
            f"no Debian {SUITE} mirror in apt's configuration (/etc/apt/sources.list.d/*.sources, "
            f"/etc/apt/sources.list) to make a Debian root from; set {MIRROR_ENV}=URL"
        )
    includes = (*_includes(mirror), *(p for p in include if p not in _includes(mirror)))
    return RootRecipe(arch, mirror, _sources(mirror, apt_dir), includes)


def debian_root(recipe: RootRecipe, root: Path, say: Say, *, search: str | None = None) -> None:
    """Make the Debian root ``recipe`` describes in the new directory ``root``.

    For another CPU than the host's (arm64 on amd64), aarch64 programs must run here:
    the emulator is registered first when they do not
    (:func:`orchestrator.images.emulation.ensure_aarch64`). Needs root and debootstrap.
    """
    debootstrap = _find_debootstrap(search)
    if debootstrap is None:
        raise BaseImageError(
            "debootstrap is not installed; install it (apt-get install debootstrap) to make a "
            f"Debian {recipe.arch} root"
        )
    if os.geteuid() != 0:
        raise BaseImageError(f"making a Debian {recipe.arch} root with debootstrap needs root")
    if recipe.arch != host_arch():
        if recipe.arch != "arm64":
            raise BaseImageError(
                f"a Debian {recipe.arch} root cannot be made on this {host_arch()} host; "
                "make it on such a host"
            )
        try:
            ensure_aarch64(say)
        except EmulationError as error:
            raise BaseImageError(str(error)) from None
    if root.exists() and any(root.iterdir()):
        raise BaseImageError(f"{root} is not empty; a Debian root is made in a new directory")
    say(
        f"debian root {recipe.key[:12]}: debootstrap --variant=minbase --arch={recipe.arch} "
        f"{SUITE} from {recipe.mirror}"
    )
    try:
        _make_root(debootstrap, recipe.mirror, recipe.includes, recipe.sources, recipe.arch, root)
    except BaseException:
        # A failed debootstrap can leave /proc or /sys mounted in it: never delete through them.
        for point in sorted(_mounts_under(root), reverse=True):
            subprocess.run(["umount", point], capture_output=True, check=False)
        raise


# An emulated arm64 debootstrap takes 3 to 4 minutes here; a stalled mirror is not waited
# on for ever.
DEBOOTSTRAP_TIMEOUT = 45 * 60


def _duration(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} s"


def _debootstrap(
    debootstrap: str, mirror: str, includes: tuple[str, ...], root: Path, arch: str
) -> None:
    command = [debootstrap, "--variant=minbase", f"--arch={arch}"]
    if includes:
        command.append(f"--include={','.join(includes)}")
    what = SUITE if arch == host_arch() else f"{SUITE} {arch}"
    try:
        done = subprocess.run(
            [*command, SUITE, str(root), mirror],
            capture_output=True,
            text=True,
            check=False,
            timeout=DEBOOTSTRAP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise BaseImageError(
            f"debootstrap of Debian {what} from {mirror} took longer than "
            f"{_duration(DEBOOTSTRAP_TIMEOUT)} and was stopped; is the mirror reachable?"
        ) from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise BaseImageError(
            f"debootstrap of Debian {what} from {mirror} failed (exit status {done.returncode}):\n"
            + "\n".join(f"  {line}" for line in tail)
        )


def _slim(root: Path) -> None:
    """Leave out documentation from now on, and what is already there; drop apt's caches."""
    (root / "etc/dpkg/dpkg.cfg.d/fabfleet-slim").write_text(_DPKG_SLIM)
    (root / "etc/apt/apt.conf.d/90fabfleet-slim").write_text(_APT_SLIM)
    for directory in ("usr/share/man", "usr/share/info", "usr/share/groff", "usr/share/lintian"):
        for entry in (root / directory).glob("*"):
            _delete(entry)
    for package in (root / "usr/share/doc").glob("*"):
        if package.is_dir() and not package.is_symlink():
            for entry in package.iterdir():
                if entry.name != "copyright":
                    _delete(entry)
    for directory in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / directory).glob("*"):
            if entry.is_file():
                entry.unlink()
    for cache in (root / "var/cache/apt").glob("*.bin"):
        cache.unlink()


def _delete(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()


def _mounts_under(path: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    prefix = str(path.resolve())
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _remove(work: Path) -> None:
    """Remove the scratch directory, unless a failed debootstrap left something mounted in it."""
    for point in sorted(_mounts_under(work), reverse=True):
        subprocess.run(["umount", point], capture_output=True, check=False)
    if _mounts_under(work):
        return  # never delete through a mount (it could be the host's /dev or /proc)
    shutil.rmtree(work, ignore_errors=True)
