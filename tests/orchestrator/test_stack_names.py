"""How `logs` and `restart` find the service a name means."""

from __future__ import annotations

import pytest

from orchestrator.stack.control import StackError, resolve_service

SERVICES = ["hub", "proxy", "printer-left", "printer-hub", "camera-top", "printer-x", "camera-x"]


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("printer-left", "printer-left"),
        ("left", "printer-left"),
        ("top", "camera-top"),
        ("camera-top", "camera-top"),
        ("hub", "hub"),  # the service, not the printer named hub
        ("printer-hub", "printer-hub"),
        ("proxy", "proxy"),
    ],
)
def test_names(name: str, service: str) -> None:
    assert resolve_service(name, SERVICES) == service


def test_a_name_of_both_a_printer_and_a_camera_is_ambiguous() -> None:
    with pytest.raises(StackError) as raised:
        resolve_service("x", SERVICES)
    assert str(raised.value) == "'x' is ambiguous: it could be printer-x or camera-x; give one"


def test_nothing_running() -> None:
    with pytest.raises(StackError) as raised:
        resolve_service("left", [])
    assert str(raised.value) == "no service 'left' in the stack (services: none; run fabfleet up)"
