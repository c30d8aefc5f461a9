"""site.image_repository: what images the stack runs, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.fleet.file import load_fleet, parse_fleet, write_starter
from orchestrator.fleet.problems import FleetFileError
from orchestrator.rendering.render import render_stack


def images(text: str) -> dict[str, str]:
    compose = yaml.safe_load(render_stack(parse_fleet(text, "fleet.yaml"), "9.8.7")["compose.yaml"])
    return {name: s["image"] for name, s in compose["services"].items()}


def test_images_default_to_the_fabfleet_repository() -> None:
    assert images("printers: [{name: a, url: 'socket://h:1'}]\n") == {
        "hub": "fabfleet/hub:9.8.7",
        "printer-a": "fabfleet/instance:9.8.7",
        "proxy": "fabfleet/proxy:9.8.7",
    }


@pytest.mark.parametrize(
    "repository", ["lab/fabfleet", "localhost:5000/fab_fleet", "Lab.example/x__y", "localhost/a/b"]
)
def test_images_come_from_the_site_repository(repository: str) -> None:
    text = f"site: {{image_repository: '{repository}'}}\ncameras: [{{name: c, serial: S1}}]\n"
    assert images(text) == {
        "hub": f"{repository}/hub:9.8.7",
        "camera-c": f"{repository}/camera:9.8.7",
        "proxy": f"{repository}/proxy:9.8.7",
    }


@pytest.mark.parametrize(
    "repository",
    ["Fabfleet", "Lab/fabfleet", "fabfleet:1.0", "fab fleet", "/fabfleet", "a//b", "a-", ""],
)
def test_a_bad_repository_is_refused(repository: str) -> None:
    with pytest.raises(FleetFileError) as raised:
        parse_fleet(f"site:\n  image_repository: '{repository}'\n", "fleet.yaml")
    assert str(raised.value) == (
        f"fleet.yaml:2: site.image_repository: '{repository}' is not an image repository; "
        "use lowercase letters, digits, '.', '_' and '-', with '/' between parts and no tag, "
        "e.g. fabfleet or lab/fabfleet"
    )


def test_the_starter_file_shows_the_repository(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    write_starter(path)
    assert (
        "  image_repository: fabfleet        # images are <image_repository>/<role>:<version>\n"
        in (path.read_text())
    )
    assert load_fleet(path).site.image_repository == "fabfleet"
