"""Pause, resume and cancel scripts: rendering and placeholder checks."""

from __future__ import annotations

import pytest

from instance.machine_state import MachineState
from instance.scripts import JobScripts, ScriptError


def test_a_bad_placeholder_is_refused_by_name():
    with pytest.raises(ScriptError, match=r"pause script line 'G1 Z\{height\}'.*\{height\}"):
        JobScripts(pause=("G1 Z{height}",))
    with pytest.raises(ScriptError, match="resume script"):
        JobScripts(resume=("G1 X{x",))


def test_scripts_render_the_machine_and_skip_lines_without_values():
    machine = MachineState(absolute_e=False, feed_rate=1800.0)
    machine.position.update({"X": 10.123456, "Y": 20.0, "Z": 0.3, "E": 1.5})
    scripts = JobScripts(retract=1.0, lift=5.0)
    assert scripts.pause_commands(machine) == ["G91", "G1 E-1 F2400", "G1 Z5 F600", "G90"]
    assert scripts.resume_commands(machine) == [
        "G90",
        "G1 X10.12346 Y20 F6000",
        "G1 Z0.3 F600",
        "G91",
        "G1 E1 F2400",
        "G90",
        "G92 E1.5",
        "G90",
        "M83",
        "G1 F1800",
    ]
    unknown = MachineState()
    assert "G1 Z" not in " ".join(scripts.resume_commands(unknown)[:3])
    assert scripts.cancel_commands()[-1] == "M84"


def test_a_placeholder_may_add_or_take_a_number():
    machine = MachineState()
    machine.position.update({"X": 10.0, "Y": 30.0, "Z": 0.4, "E": 3.0})
    scripts = JobScripts()
    lines = ("G1 Z{z+2} F600", "G1 X{x - 5.5} Y{y}", "G1 Z{z+0.1}", "G1 F{feed+1}")
    # The feed rate was never set: its line is skipped, not sent half-filled.
    assert scripts.render(lines, machine) == ["G1 Z2.4 F600", "G1 X4.5 Y30", "G1 Z0.5"]
    with pytest.raises(ScriptError, match=r"unknown placeholder \{z\*2\}"):
        JobScripts(pause=("G1 Z{z*2}",))
