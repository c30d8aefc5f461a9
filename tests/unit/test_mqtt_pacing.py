"""What the hub publishes per printer and when (hub/mqtt/topics.py, hub/mqtt/pacing.py): no
broker here; tests/hub/test_mqtt_publish.py runs the same against Mosquitto."""

from __future__ import annotations

from typing import Any

import pytest

from hub.fleet.live import PrinterLive
from hub.fleet.roster import FleetFileError, parse_fleet
from hub.mqtt.pacing import INTERVAL, SETTLE, Pacer
from hub.mqtt.settings import PublishSettings
from hub.mqtt.topics import printer_of_command, state_payload

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PRINTING: dict[str, Any] = {
    "state": "printing",
    "connected": True,
    "bed_clear": True,
    "firmware": {"name": "Marlin 2.1.2", "MACHINE_TYPE": "Prusa i3 MK3S"},
    "heaters": {"B": {"actual": 59.97, "target": 60.0}, "T0": {"actual": 214.44, "target": 215.0}},
    "job": {"file": "benchy.gcode", "progress": 0.41237, "remaining": 1805.4},
}


def payload(**changed: Any) -> dict[str, Any]:
    status = {**PRINTING, **changed}
    return state_payload(PrinterLive("mk3", status["state"], True, status), NOW)


def hot(hotend: float) -> dict[str, Any]:
    return {**PRINTING["heaters"], "T0": {"actual": hotend, "target": 215.0}}


def test_the_state_topic_carries_what_a_home_assistant_card_shows() -> None:
    assert payload() == {
        "state": "printing",
        "hotend": 214.4,
        "hotend_target": 215.0,
        "bed": 60.0,
        "bed_target": 60.0,
        "progress": 41.2,
        "time_left": 1805,
        # Now plus 1805 s, to the minute.
        "finish_time": "2027-01-15T08:30:00+00:00",
        "file": "benchy.gcode",
        "bed_clear_needed": False,
    }
    idle = state_payload(
        PrinterLive("mk3", "bed not cleared", True, {**PRINTING, "job": None, "bed_clear": False}),
        NOW,
    )
    assert idle["bed_clear_needed"] is True and idle["progress"] is None and idle["file"] is None
    # Unreachable: nothing known but that; its last status is not shown as current.
    gone = state_payload(PrinterLive("mk3", "unreachable", False, PRINTING), NOW)
    assert gone["state"] == "unreachable" and gone["hotend"] is None
    assert gone["bed_clear_needed"] is False
    # A state the hub does not know (a newer print server) is unknown, not a wrong option.
    assert state_payload(PrinterLive("mk3", "levelling", True, {}), NOW)["state"] is None


def test_a_change_of_state_goes_out_at_once_temperatures_once_a_second() -> None:
    pacer = Pacer()
    pacer.offer("mk3", payload(), 100.0)
    assert pacer.due(100.0) == []
    assert pacer.due(100.0 + SETTLE) == [("mk3", payload())]
    # The same again: nothing to send.
    pacer.offer("mk3", payload(), 100.1)
    assert pacer.next_due() is None
    # Temperatures move: the newest goes out a second after the last message, not before.
    pacer.offer("mk3", payload(heaters=hot(215.1)), 100.2)
    pacer.offer("mk3", payload(heaters=hot(215.3)), 100.5)
    assert pacer.next_due() == pytest.approx(100.0 + SETTLE + INTERVAL)
    assert pacer.due(100.9) == []
    sent = pacer.due(101.1)
    assert [p["hotend"] for _n, p in sent] == [215.3]
    # A pause while temperatures wait: at once, with the newest temperatures.
    pacer.offer("mk3", payload(heaters=hot(215.5)), 101.2)
    pacer.offer("mk3", payload(state="paused", heaters=hot(215.5)), 101.3)
    assert pacer.next_due() == pytest.approx(101.3 + SETTLE)
    # Another printer is paced on its own.
    pacer.offer("ender", payload(), 101.3)
    sent = pacer.due(101.4)
    assert {n for n, _p in sent} == {"mk3", "ender"}
    assert dict(sent)["mk3"]["hotend"] == 215.5
    pacer.forget("ender")
    pacer.offer("ender", payload(), 101.5)
    assert pacer.next_due() == pytest.approx(101.5 + SETTLE)


def test_only_a_printers_command_topic_is_a_command() -> None:
    settings = PublishSettings(topic_prefix="farm/fabfleet", commands_as="ha")
    assert printer_of_command(settings, "farm/fabfleet/printer/mk3/command") == "mk3"
    for topic in (
        "farm/fabfleet/printer/mk3/state",
        "farm/fabfleet/printer//command",
        "fabfleet/printer/mk3/command",
        "farm/fabfleet/printer/a/b/command",
    ):
        assert printer_of_command(settings, topic) is None


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        ("yes", "site.mqtt.publish must be an object"),
        (
            {"commands": {"enabled": True}},
            "site.mqtt.publish.commands.as_user must name a hub user",
        ),
        ({"topic_prefix": "a/+"}, "site.mqtt.publish.topic_prefix must be a topic prefix"),
        ({"discovery": "yes"}, "site.mqtt.publish.discovery must be true or false"),
        ({"retain": True}, "site.mqtt.publish: unknown field(s) retain"),
    ],
)
def test_a_hand_written_fleet_json_with_bad_publishing_settings_is_refused(
    publish: object, message: str
) -> None:
    with pytest.raises(FleetFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_fleet({"site": {"mqtt": {"host": "b", "publish": publish}}})
