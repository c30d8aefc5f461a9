"""`fabfleet node-setup`: a k3s node gets the fleet's udev rules and says what is plugged in."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.fleet.file import load_fleet
from orchestrator.model import stack_of
from orchestrator.rendering.udev import render_udev

FLEET = Path(__file__).parent / "golden-k3s" / "farm" / "fleet.yaml"


def run(tmp_path: Path, *extra: str, rules: Path | None = None) -> tuple[int, str]:
    rules = tmp_path / "rules" if rules is None else rules
    args = ["node-setup", "--config", str(FLEET), "--udev-rules", str(rules)]
    args += ["--udev-control", str(tmp_path / "no-udevd"), "--link-dir", str(tmp_path / "links")]
    result = CliRunner().invoke(app, [*args, *extra])
    return result.exit_code, result.output


def test_the_same_rules_as_the_docker_stack_and_what_is_plugged_in_here(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "printer-p01").symlink_to("/dev/null")
    (links / "camera-cam2").symlink_to("/dev/null")
    code, output = run(tmp_path)
    assert code == 0, output
    expected = render_udev(stack_of(load_fleet(FLEET), "0"))
    assert (tmp_path / "rules").read_bytes() == expected
    assert f"changed    {tmp_path / 'rules'}" in output
    assert "udev is not running" in output
    assert "plugged in here: camera-cam2, printer-p01" in output
    code, output = run(tmp_path)
    assert code == 0 and f"unchanged  {tmp_path / 'rules'}" in output


def test_a_host_with_nothing_plugged_in_says_so(tmp_path: Path) -> None:
    code, output = run(tmp_path)
    assert code == 0
    assert "plugged in here: none of the fleet's printers or cameras" in output


def test_rules_that_cannot_be_written_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "etc").write_text("a file where the rules' folder should be")
    code, output = run(tmp_path, rules=tmp_path / "etc" / "rules")
    assert code == 1
    assert "fabfleet: cannot read" in output and "Not a directory" in output
    assert "Traceback" not in output
