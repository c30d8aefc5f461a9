"""The power-off guard alone (hub/power/guard.py): every rule, the idle wait and the give-up.

The rules are the lessons of OctoPrint PSU Control's mishaps (docs/power.md): stale
readings and a lost link are never "cooled" (#212), "idle" excludes "heating" (#105),
and a wait that never ends must end visibly (#31, #27).
"""

from __future__ import annotations

import pytest

from hub.power.guard import Decision, Heater, Reading, auto_off, may_switch_off
from hub.power.spec import PowerSettings
from hub.power.state import PowerView

SETTINGS = PowerSettings(
    hotend_off_below=50, bed_off_below=40, idle_minutes=10, give_up_minutes=120
)
ON = PowerView(True, True, "Tasmota POWER is ON", 0.0)
OFF = PowerView(True, False, "Tasmota POWER is OFF", 0.0)
UNKNOWN = PowerView(False, None, "the plug did not answer: no answer within 4 s", 0.0)
NOW = 1_000_000.0


def cold(**changes: Heater) -> dict[str, Heater]:
    return {"T0": Heater(24.0, 0.0), "B": Heater(23.0, 0.0), **changes}


def reading(
    state: str = "ready", online: bool = True, age: float = 1.0, **heaters: Heater
) -> Reading:
    return Reading(online, state, cold(**heaters), age)


def after(minutes: float, r: Reading, device: PowerView = ON) -> Decision:
    return auto_off(r, device, SETTINGS, NOW - minutes * 60, NOW)


def test_idle_and_cold_after_the_idle_time_switches_off() -> None:
    decision = after(11, reading())
    assert decision.allow and decision.sentence == "switching off: idle and cooled"


def test_waits_for_the_idle_time_first() -> None:
    decision = after(3, reading())
    assert not decision.allow
    assert decision.sentence == "waiting: idle for 3 min, off after 10 min"


@pytest.mark.parametrize("state", ["printing", "pausing", "paused", "cancelling"])
def test_never_while_busy(state: str) -> None:
    assert not may_switch_off(reading(state), ON, SETTINGS).allow
    decision = after(500, reading(state))
    assert not decision.allow and not decision.gave_up
    assert decision.sentence == f"on: the printer is {state}"


def test_never_while_heating_even_when_cold() -> None:
    # PSU Control #105: the bed heating with nothing printing is not idle.
    decision = after(30, reading(B=Heater(25.0, 80.0)))
    assert not decision.allow and decision.sentence == "waiting: bed heating to 80 °C"
    refused = may_switch_off(reading(T0=Heater(30.0, 200.0)), ON, SETTINGS)
    assert not refused.allow and refused.sentence == "not now: hotend heating to 200 °C"


def test_never_while_hot() -> None:
    decision = after(30, reading(T0=Heater(87.0, 0.0)))
    assert decision.sentence == "waiting: hotend 87 °C, off below 50 °C"
    decision = after(30, reading(B=Heater(40.0, 0.0)))
    assert decision.sentence == "waiting: bed 40 °C, off below 40 °C"
    assert after(30, reading(B=Heater(39.4, 0.0))).allow
    second = reading(T1=Heater(55.0, 0.0))
    assert after(30, second).sentence == "waiting: hotend T1 55 °C, off below 50 °C"


def test_a_warm_chamber_does_not_hold_the_power() -> None:
    assert after(30, reading(C=Heater(45.0, 0.0))).allow
    assert not after(30, reading(C=Heater(30.0, 45.0))).allow


def test_never_on_a_stale_reading() -> None:
    # PSU Control #212 and #27: the last hot (or cold) reading says nothing now.
    decision = after(30, reading(age=11))
    assert not decision.allow and decision.sentence == "waiting: the last reading is 11 s old"
    assert after(30, reading(age=9.9)).allow


def test_never_with_the_print_server_unreachable() -> None:
    decision = after(30, Reading(False, "unreachable", {}, 0.0))
    assert not decision.allow
    assert "the print server does not answer" in decision.sentence


def test_never_without_a_printer_behind_the_print_server() -> None:
    decision = after(30, Reading(True, "offline", {}, 0.0))
    assert not decision.allow
    assert "not connected to its print server" in decision.sentence
    assert not after(30, reading(T0=Heater(None, 0.0))).allow


def test_never_when_the_device_state_is_unknown() -> None:
    decision = after(30, reading(), UNKNOWN)
    assert not decision.allow
    assert "power device's state is unknown (the plug did not answer" in decision.sentence
    refused = may_switch_off(reading(), UNKNOWN, SETTINGS)
    assert not refused.allow and "unknown" in refused.sentence


def test_gives_up_after_the_bound_and_says_so() -> None:
    # PSU Control #31: hours of "waiting for heaters"; here the wait ends, visibly, unswitched.
    decision = after(121, reading(T0=Heater(60.0, 0.0)))
    assert not decision.allow and decision.gave_up
    assert decision.sentence == (
        "gave up after 120 min: hotend 60 °C, off below 50 °C; switch it off by hand"
    )
    still_waiting = after(119, reading(T0=Heater(60.0, 0.0)))
    assert not still_waiting.gave_up and still_waiting.sentence.startswith("waiting:")
    # Once it cools after the bound, it is still switched off.
    assert after(121, reading()).allow


def test_nothing_to_do_without_a_job_or_when_already_off() -> None:
    assert auto_off(reading(), ON, SETTINGS, None, NOW) == Decision(
        False, "on; switches off after the next job once cooled"
    )
    assert auto_off(reading(), OFF, SETTINGS, NOW - 3600, NOW) == Decision(False, "off")
    assert may_switch_off(reading(), OFF, SETTINGS) == Decision(False, "already off")


def test_a_person_needs_no_idle_wait() -> None:
    decision = may_switch_off(reading(), ON, SETTINGS)
    assert decision.allow and decision.sentence == "may be switched off: idle and cooled"
