"""The parts of the arm64 Docker images that need no engine: tags, hash, base check, push
target, the image configuration of a loaded root, and `fabfleet images`' refusals.

The whole (an arm64 image built here, printing in Docker, pushed with the host's as one
manifest list) is tests/images/test_arm64_docker.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.images import Image
from typer.testing import CliRunner

from orchestrator.images import build as build_module
from orchestrator.images.base import BaseImage, BaseImageError, _checked, host_arch
from orchestrator.images.build import BuildSettings, ImageBuilder, ImageBuildError, cpu_version
from orchestrator.images.context import CONTEXTS, BuildInputs, build_hash
from orchestrator.images.emulation import EmulationError
from orchestrator.images.push import PushError, is_loopback, push_registry, registry_of
from orchestrator.images.rootimage import image_config
from tests.images.images_cli import app as images_app

OTHER = "arm64" if host_arch() == "amd64" else "amd64"
# These builders only name and check: the engine is never asked.
NO_ENGINE = docker.DockerClient.__new__(docker.DockerClient)


def test_the_hosts_tags_are_unchanged_and_another_cpus_carry_it() -> None:
    assert cpu_version("0.1.0", host_arch()) == "0.1.0"
    assert cpu_version("0.1.0", OTHER) == f"0.1.0-{OTHER}"
    host = ImageBuilder(NO_ENGINE, _settings(), print)
    other = ImageBuilder(NO_ENGINE, _settings(arch=OTHER), print)
    assert host.tag("instance") == "lab/fabfleet/instance:0.1.0"
    assert other.tag("instance") == f"lab/fabfleet/instance:0.1.0-{OTHER}"
    assert not host.foreign and other.foreign


def _settings(**changes: Any) -> BuildSettings:
    return dataclasses.replace(
        BuildSettings(repository="lab/fabfleet", version="0.1.0", base="debian:bookworm-slim"),
        **changes,
    )


def _inputs(platform: str | None = None) -> BuildInputs:
    return BuildInputs(
        role="camera",
        context=CONTEXTS / "camera",
        target=None,
        base=BaseImage("fabfleet/debian-base:bookworm-x", "sha256:" + "1" * 64),
        uid=10001,
        gid=10001,
        version="0.1.0",
        wheels=None,
        platform=platform,
    )


def test_the_build_hash_names_another_cpu_and_the_hosts_is_as_before() -> None:
    host = build_hash(_inputs())
    assert build_hash(_inputs(None)) == host
    assert build_hash(_inputs("linux/arm64")) != host
    assert build_hash(_inputs("linux/arm64")) != build_hash(_inputs("linux/amd64"))


def _image(arch: str) -> Image:
    return Image(attrs={"Id": "sha256:" + "2" * 64, "Architecture": arch})


def test_the_base_must_be_for_the_cpu_the_images_are_for() -> None:
    assert _checked(_image(OTHER), "b", OTHER).id == "sha256:" + "2" * 64
    assert _checked(_image(host_arch()), "b").name == "b"
    with pytest.raises(BaseImageError, match=f"base image b is for {host_arch()}, the images"):
        _checked(_image(host_arch()), "b", OTHER)
    with pytest.raises(BaseImageError, match=f"give --arch {OTHER} to build images for {OTHER}"):
        _checked(_image(OTHER), "b")


def test_without_emulation_an_arm64_build_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(say: object) -> None:
        raise EmulationError("qemu-user-static is not installed; install it")

    monkeypatch.setattr(build_module, "host_arch", lambda: "amd64")
    monkeypatch.setattr(build_module, "ensure_aarch64", missing)
    builder = ImageBuilder(NO_ENGINE, _settings(arch="arm64"), print)
    with pytest.raises(ImageBuildError, match="cannot build arm64 images here: qemu-user-static"):
        builder.emulate()
    monkeypatch.setattr(build_module, "host_arch", lambda: "arm64")
    amd = ImageBuilder(NO_ENGINE, _settings(arch="amd64"), print)
    with pytest.raises(ImageBuildError, match="images for amd64 are built on an amd64 host"):
        amd.emulate()


@pytest.mark.parametrize(
    ("repository", "registry", "loopback"),
    [
        ("127.0.0.1:5000/fabfleet", "127.0.0.1:5000", True),
        ("localhost/lab/fabfleet", "localhost", True),
        ("[::1]:5000/fabfleet", "[::1]:5000", True),
        ("registry.farm.lan:5000/fabfleet", "registry.farm.lan:5000", False),
        ("registry.farm.lan/fabfleet", "registry.farm.lan", False),
    ],
)
def test_the_registry_is_read_from_the_repository(
    repository: str, registry: str, loopback: bool
) -> None:
    assert registry_of(repository) == registry
    assert push_registry(repository) == registry
    assert is_loopback(registry) is loopback


@pytest.mark.parametrize("repository", ["fabfleet", "lab/fabfleet"])
def test_a_repository_without_a_registry_is_not_pushed(repository: str) -> None:
    assert registry_of(repository) is None
    with pytest.raises(PushError, match=f"site.image_repository {repository} names no registry"):
        push_registry(repository)


def test_a_loaded_root_is_one_layer_for_its_cpu() -> None:
    config = json.loads(image_config("ab" * 32, "arm64", ("bash",), "1970-01-01T00:00:00Z"))
    assert (config["architecture"], config["os"]) == ("arm64", "linux")
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "ab" * 32]}
    assert config["config"]["Cmd"] == ["bash"]
    # The same root gives the same image (the same id), whenever it is loaded.
    assert (
        image_config("ab" * 32, "arm64", ("bash",), "1970-01-01T00:00:00Z")
        == json.dumps(config, sort_keys=True).encode()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "i386"], "fabfleet: --arch i386: fabfleet builds images for amd64 and arm64"),
        (["--role", "printer"], "fabfleet: --role printer: the images are instance, camera"),
        (["--push"], "fabfleet: site.image_repository lab/fabfleet names no registry"),
    ],
)
def test_images_refuses_what_it_cannot_do_before_building(
    tmp_path: Path, args: list[str], message: str
) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("site:\n  image_repository: lab/fabfleet\n")
    result = CliRunner().invoke(images_app, ["images", "--config", str(config), *args])
    assert result.exit_code == 1
    assert message in result.output


def test_the_dry_run_names_the_other_cpus_tags_and_wheels(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("site:\n  image_repository: lab/fabfleet\n")
    result = CliRunner().invoke(
        images_app,
        ["images", "--config", str(config), "--arch", OTHER, "--role", "instance", "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("lab/fabfleet/instance:") and lines[0].endswith(f"-{OTHER}")
    machine = {"arm64": "aarch64", "amd64": "x86_64"}[OTHER]
    assert any(f"dependencies for cp311 manylinux_2_36_{machine}: " in line for line in lines)
    assert lines[-1] == "images: 1 to build from the above, nothing built (--dry-run)"
