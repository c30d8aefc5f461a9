"""``site: spoolman:`` in the fleet file (docs/fleet-file.md, docs/spools.md): checked with
clear messages, carried into hub/fleet.json (rendered stack and demo alike) and read by the
hub's roster; absent, hub/fleet.json is unchanged and the hub tracks no spools."""

from __future__ import annotations

import json

import pytest
import yaml

from hub.fleet.roster import FleetFileError as HubFleetFileError
from hub.fleet.roster import SpoolmanSite
from hub.fleet.roster import parse_fleet as hub_parse_fleet
from orchestrator.fleet.file import parse_fleet
from orchestrator.fleet.problems import FleetFileError
from orchestrator.rendering.hub_fleet import hub_fleet
from orchestrator.rendering.render import render_stack

FLEET = "site:\n  spoolman:\n{spoolman}printers:\n  - name: mk3\n    serial: CZPX1\n"


def problems(spoolman: str) -> list[str]:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet(FLEET.format(spoolman=spoolman), "fleet.yaml")
    return str(caught.value).splitlines()


def test_spoolman_reaches_the_hub_and_its_roster() -> None:
    fleet = parse_fleet(
        FLEET.format(spoolman="    url: http://spoolman.lan:7912/\n    low_grams: 150\n"),
        "fleet.yaml",
    )
    assert fleet.site.spoolman is not None
    assert fleet.site.spoolman.url == "http://spoolman.lan:7912"
    for document in (render_stack(fleet, "1.2.3")["hub/fleet.json"], hub_fleet(fleet)):
        site = json.loads(document)["site"]
        assert site["max_heating"] == 0
        assert site["spoolman"] == {"url": "http://spoolman.lan:7912", "low_grams": 150}
        assert hub_parse_fleet(json.loads(document)).spoolman == SpoolmanSite(
            "http://spoolman.lan:7912", 150.0
        )
    # The default threshold; and no Spoolman: nothing in hub/fleet.json, none in the roster.
    plain = parse_fleet(FLEET.format(spoolman="    url: https://spools.example\n"), "fleet.yaml")
    assert plain.site.spoolman is not None and plain.site.spoolman.low_grams == 100
    none = parse_fleet("printers:\n  - name: mk3\n    serial: CZPX1\n", "fleet.yaml")
    assert "spoolman" not in json.loads(hub_fleet(none))["site"]
    assert hub_parse_fleet(json.loads(hub_fleet(none))).spoolman is None


def test_with_spoolman_the_hub_alone_gets_a_route_to_the_lan() -> None:
    fleet = parse_fleet(FLEET.format(spoolman="    url: http://spoolman.lan:7912\n"), "fleet.yaml")
    compose = yaml.safe_load(render_stack(fleet, "1.2.3")["compose.yaml"])
    assert compose["services"]["hub"]["networks"] == ["internal", "spoolman"]
    assert compose["networks"]["spoolman"] in ({}, None)
    assert compose["networks"]["internal"] == {"internal": True}
    others = [s["networks"] for name, s in compose["services"].items() if name != "hub"]
    assert not any("spoolman" in networks for networks in others)
    # Without it, the hub stays on the internal network alone.
    plain = parse_fleet("printers:\n  - name: mk3\n    serial: CZPX1\n", "fleet.yaml")
    plain_compose = yaml.safe_load(render_stack(plain, "1.2.3")["compose.yaml"])
    assert plain_compose["services"]["hub"]["networks"] == ["internal"]
    assert "spoolman" not in plain_compose["networks"]


@pytest.mark.parametrize(
    ("spoolman", "expected"),
    [
        (
            "    url: spoolman:7912\n",
            "fleet.yaml:3: site.spoolman.url: 'spoolman:7912' is not Spoolman's address; write "
            "http://host:7912 (the address its web page opens at)",
        ),
        (
            "    url: http://spoolman:7912/api/v1\n",
            "fleet.yaml:3: site.spoolman.url: 'http://spoolman:7912/api/v1': give Spoolman's "
            "address without /api/v1 (fabfleet adds it)",
        ),
        (
            "    url: http://spoolman:7912\n    low_grams: -5\n",
            "fleet.yaml:4: site.spoolman.low_grams: -5 is out of range; use at least 0",
        ),
        (
            "    low_grams: 50\n",
            "fleet.yaml:2: site.spoolman.url: 'url' is required here",
        ),
        (
            "    url: http://spoolman:7912\n    api_key: x\n",
            "fleet.yaml:4: site.spoolman.api_key: unknown key 'api_key'; known keys here: url, "
            "low_grams",
        ),
    ],
)
def test_a_wrong_spoolman_entry_says_what_to_write(spoolman: str, expected: str) -> None:
    assert problems(spoolman) == [expected]


def test_the_hub_refuses_a_fleet_json_with_a_broken_spoolman_entry() -> None:
    for bad in ({"url": 7912}, {"url": "spoolman:7912"}, "http://spoolman", {"url": "http://x",
                "low_grams": -1}):  # fmt: skip
        with pytest.raises(HubFleetFileError):
            hub_parse_fleet({"site": {"spoolman": bad}, "printers": [], "cameras": []})
