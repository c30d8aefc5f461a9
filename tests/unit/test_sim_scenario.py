"""Scenario files, fault specs on the command line, and the CLI's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from instance.sim.cli import main
from instance.sim.faults import FAULTS, parse_fault
from instance.sim.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parent.parent / "fixtures" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_example_scenario_loads(path):
    scenario = load_scenario(path)
    assert scenario.description
    scenario.sim_options()


def test_the_examples_cover_every_fault_family():
    used = {fault.name for path in SCENARIOS for fault in load_scenario(path).faults}
    missing = set(FAULTS) - used - {"emit"}
    assert not missing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[options]\nbuffer = 4\n", "unknown key 'buffer' in \\[options\\]"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("[options]\nidentity = 'smoothie'\n", "identity must be one of"),
        ("[[faults]]\nname = 'gremlins'\nat_line = 1\n", "unknown fault 'gremlins'"),
        ("[[faults]]\nname = 'drop_line'\nat_line = 1\nhow = 2\n", "unknown key 'how'"),
        ("[[faults]]\nname = 'drop_line'\n", "needs a trigger"),
        ("[[faults]]\nname = 'silence'\nat_time = 1\nseconds = 'long'\n", "must be a number"),
        ("[options\n", "not valid TOML"),
    ],
)
def test_a_bad_scenario_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_fault_from_the_command_line():
    fault = parse_fault("long_command:at_line=5,seconds=12,keepalive=no")
    assert fault.params == {"seconds": 12.0, "keepalive": False}
    assert fault.trigger.at_line == 5
    assert parse_fault("random_resend").trigger.probability == 0.05
    assert parse_fault("random_resend:every=3").trigger.probability is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--identity", "smoothie"],
        ["--pty", "--tcp", "127.0.0.1:0"],
        ["--tcp", "nowhere"],
        ["--fault", "gremlins:at_line=1"],
        ["--fault", "drop_line"],
        ["--command-buffer", "0"],
        ["--scenario", "/nonexistent/scenario.toml"],
    ],
)
def test_bad_flags_exit_2_with_a_message_and_no_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "fabfleet-sim" in err
    assert "Traceback" not in err
