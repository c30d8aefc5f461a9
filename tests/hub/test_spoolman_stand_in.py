"""The Spoolman stand-in (tests/hub/spoolman_stand_in.py) answers as Spoolman's own OpenAPI
document says (tests/fixtures/spoolman/openapi.json, Spoolman 0.26.1, served by Spoolman at
``/api/v1/openapi.json``): every answer's status code is one the operation declares, and its
body validates against the schema declared for that code, error bodies included. So the
stand-in the hub's tests talk to cannot drift from the real contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool

CONTRACT = Path(__file__).parent.parent / "fixtures" / "spoolman" / "openapi.json"
DOCUMENT: dict[str, Any] = json.loads(CONTRACT.read_text())
REGISTRY: Registry[Any] = Registry().with_resource(
    "openapi.json", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def check(method: str, path: str, answer: requests.Response) -> Any:
    """``answer`` to ``method path`` (path as the document spells it) follows the document."""
    operation = DOCUMENT["paths"][path][method.lower()]
    declared = operation["responses"]
    assert str(answer.status_code) in declared, (method, path, answer.status_code, answer.text)
    schema = declared[str(answer.status_code)]["content"]["application/json"]["schema"]
    body = answer.json()
    validator = jsonschema.Draft202012Validator(_resolved(schema), registry=REGISTRY)
    validator.validate(body)
    return body


def _resolved(schema: Any) -> Any:
    """``schema`` with every local ``$ref`` pointed into the registered document."""
    if isinstance(schema, dict):
        return {
            k: ("openapi.json" + v if k == "$ref" and v.startswith("#") else _resolved(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_resolved(v) for v in schema]
    return schema


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    stand_in.add(StandInSpool(12, "Prusament", "PLA Galaxy Black", "PLA", location="shelf A"))
    stand_in.add(StandInSpool(13, None, "No-name PETG", "PETG", density=1.27, weight=None))
    stand_in.add(StandInSpool(14, "Polymaker", "PolyTerra Charcoal", "PLA", archived=True))
    stand_in.start()
    yield stand_in
    stand_in.stop()


def test_every_answer_of_the_stand_in_follows_spoolmans_openapi_document(
    spoolman: SpoolmanStandIn,
) -> None:
    api = spoolman.url + "/api/v1"

    def put(path: str, body: Any) -> requests.Response:
        return requests.put(api + path, json=body, timeout=10)

    info = check("GET", "/info", requests.get(api + "/info", timeout=10))
    assert info["version"] == "0.26.1"
    assert check("GET", "/health", requests.get(api + "/health", timeout=10)) == {
        "status": "healthy"
    }

    # Spools: archived ones only when asked, paged with limit/offset.
    listed = check("GET", "/spool", requests.get(api + "/spool", timeout=10))
    assert [s["id"] for s in listed] == [12, 13]
    everything = requests.get(api + "/spool", params={"allow_archived": "true"}, timeout=10)
    assert [s["id"] for s in check("GET", "/spool", everything)] == [12, 13, 14]
    page = requests.get(api + "/spool", params={"limit": "1", "offset": "1"}, timeout=10)
    assert [s["id"] for s in check("GET", "/spool", page)] == [13]
    bad_limit = requests.get(api + "/spool", params={"limit": "ten"}, timeout=10)
    assert bad_limit.status_code == 422
    check("GET", "/spool", bad_limit)

    spool = check("GET", "/spool/{spool_id}", requests.get(api + "/spool/12", timeout=10))
    assert spool["remaining_weight"] == 1000.0
    assert spool["filament"]["density"] == 1.24
    assert json.loads(spool["extra"]["tag"]) == "farm"
    unknown = check("GET", "/spool/{spool_id}", requests.get(api + "/spool/99", timeout=10))
    assert "message" in unknown
    not_a_number = requests.get(api + "/spool/twelve", timeout=10)
    assert not_a_number.status_code == 422
    check("GET", "/spool/{spool_id}", not_a_number)
    # A filament without a weight: Spoolman does not know what is left.
    no_weight = check("GET", "/spool/{spool_id}", requests.get(api + "/spool/13", timeout=10))
    assert no_weight["remaining_weight"] is None

    # Use: by weight or by length, exactly one of them.
    used = check("PUT", "/spool/{spool_id}/use", put("/spool/12/use", {"use_weight": 12.5}))
    assert used["used_weight"] == 12.5
    assert used["remaining_weight"] == 987.5
    by_length = check("PUT", "/spool/{spool_id}/use", put("/spool/12/use", {"use_length": 1000}))
    assert by_length["used_weight"] == pytest.approx(12.5 + 2.982, abs=0.01)
    both = put("/spool/12/use", {"use_weight": 1, "use_length": 1})
    assert both.status_code == 400
    check("PUT", "/spool/{spool_id}/use", both)
    text = put("/spool/12/use", {"use_weight": "lots"})
    assert text.status_code == 422
    check("PUT", "/spool/{spool_id}/use", text)
    gone = put("/spool/99/use", {"use_weight": 1})
    assert gone.status_code == 404
    check("PUT", "/spool/{spool_id}/use", gone)

    weighed = check("PUT", "/spool/{spool_id}/measure", put("/spool/12/measure", {"weight": 900}))
    assert weighed["remaining_weight"] == 900
    no_weight_given = put("/spool/12/measure", {})
    assert no_weight_given.status_code == 422
    check("PUT", "/spool/{spool_id}/measure", no_weight_given)


def test_the_stand_ins_fault_switches_answer_within_the_contract_or_not_at_all(
    spoolman: SpoolmanStandIn,
) -> None:
    api = spoolman.url + "/api/v1"
    # A spool deleted in Spoolman: 404 with a Message.
    spoolman.missing.add(12)
    assert requests.get(api + "/spool/12", timeout=10).status_code == 404
    check("GET", "/spool/{spool_id}", requests.get(api + "/spool/12", timeout=10))
    spoolman.missing.clear()
    # A use Spoolman refuses: 422 with a validation error, and nothing is used.
    spoolman.reject_use = 1
    refused = requests.put(api + "/spool/12/use", json={"use_weight": 3}, timeout=10)
    assert refused.status_code == 422
    check("PUT", "/spool/{spool_id}/use", refused)
    assert spoolman.spools[12].used_weight == 0
    # Garbage: a body that is not JSON (what a broken proxy in front of Spoolman sends).
    spoolman.garbage = True
    with pytest.raises(requests.JSONDecodeError):
        requests.get(api + "/spool/12", timeout=10).json()
    spoolman.garbage = False
    # Slow: no answer within the client's time.
    spoolman.slow = 2.0
    with pytest.raises(requests.Timeout):
        requests.get(api + "/health", timeout=0.5)
    spoolman.slow = 0.0
    # Stopped: refused connections; started again on the same port with the same spools.
    port = spoolman.port
    spoolman.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(api + "/health", timeout=5)
    spoolman.start()
    assert spoolman.port == port
    check("GET", "/spool/{spool_id}", requests.get(api + "/spool/12", timeout=10))
