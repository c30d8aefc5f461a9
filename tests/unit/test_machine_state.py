"""MachineState follows what the executed commands set."""

from __future__ import annotations

import pytest

from instance.machine_state import MachineState, heater_target


def state_after(*commands: str) -> MachineState:
    machine = MachineState()
    for command in commands:
        machine.apply(command)
    return machine


def test_absolute_and_relative_moves_follow_g90_g91_m82_m83_and_g92():
    machine = state_after(
        "G28", "G90", "M83", "G1 X10 Y20 Z0.3 F1200", "G1 X5 E1.5", "G1 E-0.5", "G92 E0", "G1 E2"
    )
    assert machine.position == {"X": 5.0, "Y": 20.0, "Z": 0.3, "E": 2.0}
    assert machine.absolute_xyz
    assert not machine.absolute_e
    assert machine.feed_rate == 1200
    assert machine.layer_z == 0.3
    machine.apply("G91")
    machine.apply("G1 Z0.2 E1")
    assert machine.position["Z"] == 0.5
    assert machine.position["E"] == 3.0
    assert machine.restore_modes() == ["G91", "M83", "G1 F1200"]


def test_unknown_position_stays_unknown_until_set():
    machine = state_after("G91", "G1 X10")
    assert machine.position["X"] is None
    assert state_after("G28 X", "G91", "G1 X10").position["X"] == 10.0


def test_heat_fan_and_tool():
    machine = state_after("M140 S60", "M104 S200", "M109 T1 S210", "T1", "M106 S128", "M190 R55")
    assert machine.hotend_targets == {0: 200.0, 1: 210.0}
    assert machine.bed_target == 55.0
    assert machine.fan_speed == 128.0
    assert machine.tool == 1
    assert machine.restore_modes()[0] == "T1"
    machine.apply("M107")
    assert machine.fan_speed == 0.0


@pytest.mark.parametrize(
    ("command", "tool", "expected"),
    [
        ("M104 S215", 0, ("T0", 215.0)),
        ("M104 S215", 1, ("T1", 215.0)),
        ("M104 T1 S200", 0, ("T1", 200.0)),
        ("M109 R190", 0, ("T0", 190.0)),
        ("M140 S60", 0, ("B", 60.0)),
        ("M190 S0", 0, ("B", 0.0)),
        ("M141 S40", 0, ("C", 40.0)),
        ("M104", 0, None),  # no target given: nothing changes
        ("M105", 0, None),
        ("G1 X10 S5", 0, None),
    ],
)
def test_heater_target(command: str, tool: int, expected: tuple[str, float] | None) -> None:
    assert heater_target(command, tool) == expected
