"""The pure parts of the Spoolman integration (hub/spools/model.py, service.LoadedSpool):
filament grams, reading Spoolman's answers (shapes from tests/fixtures/spoolman/openapi.json),
summarising its refusals, and how long an unsent report waits."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from hub.fleet.roster import SpoolmanSite
from hub.spools.model import (
    SpoolmanError,
    filament_grams,
    message_of,
    parse_spool,
    parse_spools,
    report_outcome,
    retry_delay,
    spool_name,
    validation_summary,
)
from hub.spools.service import LoadedSpool, is_low, unchecked

# A Spool as Spoolman 0.26.1 answers it (required fields and the optional ones we read).
SPOOL: dict[str, Any] = {
    "id": 12,
    "registered": "2026-01-05T10:00:00Z",
    "first_used": None,
    "last_used": None,
    "filament": {
        "id": 3,
        "registered": "2026-01-05T10:00:00Z",
        "name": "PLA Galaxy Black",
        "vendor": {"id": 1, "registered": "2026-01-05T10:00:00Z", "name": "Prusament",
                   "extra": {}},
        "material": "pla",
        "density": 1.24,
        "diameter": 1.75,
        "weight": 1000,
        "extra": {},
    },
    "remaining_weight": 812.5,
    "used_weight": 187.5,
    "used_length": 62000.0,
    "archived": False,
    "location": "shelf A",
    "extra": {},
}  # fmt: skip


def spool(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(SPOOL)
    for path, value in changes.items():
        target = raw
        *parents, key = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return raw


def test_grams_are_the_filament_volume_times_its_density() -> None:
    # 1 m of 1.75 mm PLA: π·(0.0875 cm)²·100 cm·1.24 g/cm³ ≈ 2.98 g (the usual rule of thumb).
    assert filament_grams(1000.0, 1.24, 1.75) == pytest.approx(2.9825, abs=0.0001)
    assert filament_grams(1000.0, 1.24, 2.85) == pytest.approx(7.9104, abs=0.0001)
    assert filament_grams(0.0, 1.24, 1.75) == 0.0
    # Twice the length, twice the grams; a denser filament weighs more.
    assert filament_grams(2000.0, 1.24, 1.75) == pytest.approx(2 * filament_grams(1000, 1.24, 1.75))
    assert filament_grams(1000.0, 1.27, 1.75) > filament_grams(1000.0, 1.24, 1.75)
    loaded = LoadedSpool("mk3", 0, 12, "#12", "PLA", 500.0, 1.24, 1.75, 1.0, None, False)
    assert loaded.grams(1000.0) == pytest.approx(2.9825, abs=0.0001)
    with pytest.raises(ValueError, match="not known yet"):
        unchecked("mk3", 0, 12, "not looked up").grams(1000.0)


def test_a_spool_is_read_with_its_filament_and_an_unknown_remaining_weight() -> None:
    read = parse_spool(SPOOL)
    assert (read.id, read.name, read.material, read.remaining_weight) == (
        12, "Prusament PLA Galaxy Black #12", "PLA", 812.5,
    )  # fmt: skip
    assert (read.filament.density, read.filament.diameter, read.location) == (1.24, 1.75, "shelf A")
    # No filament weight in Spoolman: it does not know what is left, and says null.
    assert parse_spool(spool(remaining_weight=None)).remaining_weight is None
    assert parse_spool(spool(remaining_weight=...)).remaining_weight is None
    # No vendor, no name: the id alone.
    bare = parse_spool(spool(filament__vendor=None, filament__name=None, filament__material=None))
    assert (bare.name, bare.material) == ("#12", None)
    assert [s.id for s in parse_spools([SPOOL, spool(id=13)])] == [12, 13]
    assert spool_name(7, "eSun", None) == "eSun #7"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"id": "12"}, "spool.id is not an id"),
        ({"id": True}, "spool.id is not an id"),
        ({"filament": ...}, "a spool without its filament"),
        ({"filament__density": ...}, "filament.density is not a number"),
        ({"filament__density": 0}, "filament.density must be above 0"),
        ({"filament__diameter": "1.75"}, "filament.diameter is not a number"),
        ({"remaining_weight": "lots"}, "spool.remaining_weight is not a number"),
        ({"used_weight": None}, "spool.used_weight is not a number"),
        ({"archived": "no"}, "spool.archived is not true or false"),
    ],
)
def test_an_answer_that_is_not_a_spool_is_nonsense_and_says_why(
    changes: dict[str, Any], said: str
) -> None:
    with pytest.raises(SpoolmanError) as caught:
        parse_spool(spool(**changes))
    assert caught.value.kind == "nonsense"
    assert str(caught.value).startswith("Spoolman answered nonsense (")
    assert said in str(caught.value)


def test_lists_and_non_objects_are_refused() -> None:
    bad: Any
    for bad in (None, "spools", {"items": []}):
        with pytest.raises(SpoolmanError, match="a list of spools was expected"):
            parse_spools(bad)
    with pytest.raises(SpoolmanError, match="not an object"):
        parse_spool([SPOOL])
    with pytest.raises(SpoolmanError):
        parse_spool(spool(filament__density=math.inf))


def test_refusals_are_summarised_in_one_line() -> None:
    detail = {
        "detail": [
            {"loc": ["body", "use_weight"], "msg": "Input should be a valid number",
             "type": "float_parsing", "input": "x"},
            {"loc": ["path", "spool_id"], "msg": "Input should be a valid integer",
             "type": "int_parsing"},
        ]
    }  # fmt: skip
    assert validation_summary(detail) == (
        "body.use_weight: Input should be a valid number; "
        "path.spool_id: Input should be a valid integer"
    )
    many = {"detail": [{"loc": ["body", str(i)], "msg": "bad", "type": "t"} for i in range(5)]}
    assert validation_summary(many).endswith("; and 2 more")
    assert validation_summary({"message": "No spool"}) == "No spool"
    assert validation_summary("<html>") == "no reason given"
    assert message_of({"message": "No spool with ID 9 found."}) == "No spool with ID 9 found."
    assert message_of({"detail": []}) is None


def test_unsent_reports_wait_longer_each_time_up_to_a_minute_and_only_no_answer_retries() -> None:
    waits = [retry_delay(n) for n in range(1, 10)]
    assert waits[:4] == [2.0, 4.0, 8.0, 16.0]
    assert waits == sorted(waits) and max(waits) == 60.0
    assert retry_delay(10_000) == 60.0
    assert report_outcome("missing") == "gone"
    assert report_outcome("refused") == "failed"
    assert report_outcome("down") == "pending"
    assert report_outcome("nonsense") == "pending"


def test_low_means_known_and_below_the_sites_threshold() -> None:
    site = SpoolmanSite("http://spoolman:7912", 100.0)
    assert is_low(99.9, site) is True
    assert is_low(100.0, site) is False
    assert is_low(None, site) is False
    assert is_low(5.0, None) is False
