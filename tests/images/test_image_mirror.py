"""Which Debian mirror a local base image is built from: the one apt already uses."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from orchestrator.images.base import BaseImageError, local_debian_base
from orchestrator.images.mirror import MIRROR_ENV, find_mirror

DEB822 = """\
Types: deb deb-src
# a comment
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_mirror_comes_from_a_deb822_sources_file(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert find_mirror("bookworm", apt, {}) == "http://mirror.invalid/debian"


def test_the_mirror_comes_from_a_one_line_sources_list(tmp_path: Path) -> None:
    apt = apt_dir(
        tmp_path,
        {
            "sources.list": "# deb http://old.invalid/debian bookworm main\n"
            "deb http://security.invalid/debian-security bookworm-security main\n"
            "deb [arch=amd64 signed-by=/k.gpg] https://mirror.invalid/debian bookworm main\n"
        },
    )
    assert find_mirror("bookworm", apt, {}) == "https://mirror.invalid/debian"


def test_a_disabled_stanza_or_another_suite_is_no_mirror(tmp_path: Path) -> None:
    apt = apt_dir(
        tmp_path,
        {
            "sources.list.d/off.sources": "Types: deb\nURIs: http://off.invalid/debian\n"
            "Suites: bookworm\nComponents: main\nEnabled: no\n",
            "sources.list": "deb http://ubuntu.invalid/ubuntu jammy main\n",
        },
    )
    assert find_mirror("bookworm", apt, {}) is None


def test_the_environment_overrides_apt(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert find_mirror("bookworm", apt, {MIRROR_ENV: "http://given.invalid/d"}) == (
        "http://given.invalid/d"
    )


def test_no_mirror_in_apt_stops_the_base_with_what_to_do(
    client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    apt = apt_dir(tmp_path, {"sources.list": "deb http://ubuntu.invalid/ubuntu jammy main\n"})
    with pytest.raises(BaseImageError) as raised:
        local_debian_base(client, print, apt_dir=apt)
    assert str(raised.value) == (
        "no Debian bookworm mirror in apt's configuration (/etc/apt/sources.list.d/*.sources, "
        f"/etc/apt/sources.list) to build a base image from; set {MIRROR_ENV}=URL, or load a "
        "Debian bookworm image (docker load -i FILE) and set site.image_base to it"
    )


def test_no_debootstrap_stops_the_base_with_what_to_do(
    client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822})
    with pytest.raises(BaseImageError) as raised:
        local_debian_base(client, print, apt_dir=apt, search=str(tmp_path / "no-bin"))
    assert str(raised.value) == (
        "debootstrap is not installed; install it (apt-get install debootstrap) so fabfleet can "
        "build a Debian base image, or load one (docker load -i FILE) and set site.image_base to it"
    )
