"""Service tasks (hub/fleet/service_tasks.py, hub/maintenance/due.py): which tasks a printer
has, and when each is ok, due (from 90 %) or overdue (from 100 %), whichever interval first."""

from __future__ import annotations

import pytest

from hub.fleet.roster import FleetFileError, FleetPrinter, parse_fleet
from hub.fleet.service_tasks import ServiceTask, ServiceTaskError, parse_task
from hub.maintenance.counters import Counters, CountersError, parse_counters
from hub.maintenance.due import amount, assess, tasks_for

DAY = 86400.0


def counters(at: float = 0.0, **figures: float) -> Counters:
    jobs = int(figures.pop("jobs", 0))
    hotend = figures.pop("hotend_seconds", 0.0)
    return Counters(
        at=at,
        jobs={"completed": jobs},
        heater_on_seconds={"T0": hotend, "B": 99999.0},
        **figures,
    )


NOZZLE = ServiceTask("Replace nozzle", (("print_hours", 300.0),))


def test_the_state_follows_the_share_used() -> None:
    base = counters(print_seconds=3600.0 * 10)
    ok = assess(NOZZLE, "mk3", counters(print_seconds=3600.0 * 279), base)
    assert (ok.state, ok.sentence) == ("ok", "Replace nozzle: 269 of 300 print hours")
    due = assess(NOZZLE, "mk3", counters(print_seconds=3600.0 * 280), base)
    assert (due.state, due.sentence) == (
        "due",
        "Replace nozzle: 270 of 300 print hours, due (30 h left)",
    )
    assert due.fraction == pytest.approx(0.9)
    over = assess(NOZZLE, "mk3", counters(print_seconds=3600.0 * 322), base)
    assert (over.state, over.sentence) == (
        "overdue",
        "Replace nozzle: 312 of 300 print hours, overdue by 12 h",
    )


def test_whichever_interval_comes_first_decides() -> None:
    rails = ServiceTask("Lube rails", (("days", 90.0), ("move_km", 200.0)))
    base = counters(at=0.0, move_mm=0.0)
    by_travel = assess(rails, "mk3", counters(at=10 * DAY, move_mm=205e6), base)
    assert by_travel.state == "overdue"
    assert by_travel.sentence == "Lube rails: 205 of 200 km of travel, overdue by 5 km"
    by_days = assess(rails, "mk3", counters(at=85 * DAY, move_mm=1e6), base)
    assert (by_days.state, by_days.sentence) == (
        "due",
        "Lube rails: 85 of 90 days, due (5 days left)",
    )
    assert [u.kind for u in by_days.uses] == ["days", "move_km"]


def test_every_interval_kind_measures_its_counter() -> None:
    base = counters(at=0.0)
    now = counters(
        at=2 * DAY, print_seconds=7200.0, filament_mm=3500.0, jobs=4, move_mm=2.5e6,
        hotend_seconds=5400.0,
    )  # fmt: skip
    kinds = {"print_hours": 2.0, "filament_m": 3.5, "jobs": 4.0, "days": 2.0, "move_km": 2.5,
             "heater_hours": 1.5}  # fmt: skip
    for kind, expected in kinds.items():
        state = assess(ServiceTask("t", ((kind, 100.0),)), "mk3", now, base)
        assert state.uses[0].used == pytest.approx(expected), kind


def test_a_counter_that_started_again_from_zero_counts_from_zero() -> None:
    base = counters(print_seconds=3600.0 * 500)
    state = assess(NOZZLE, "mk3", counters(print_seconds=3600.0 * 20), base)
    assert state.sentence == "Replace nozzle: 20 of 300 print hours"


def test_without_counters_the_state_is_unknown() -> None:
    state = assess(NOZZLE, "mk3", None, None)
    assert (state.state, state.fraction) == ("unknown", None)
    assert state.sentence == "Replace nozzle: no counters read from mk3 yet"


def test_amounts_read_naturally() -> None:
    assert [amount(v) for v in (312.4, 12.0, 9.5, 0.024, 9.4e-6, 0.0)] == [
        "312",
        "12",
        "9.5",
        "0.024",
        "0",
        "0",
    ]


def test_a_printer_gets_the_site_tasks_meant_for_it_and_its_own() -> None:
    fleet = parse_fleet(
        {
            "site": {
                "maintenance": [
                    {"task": "Replace nozzle", "every": {"print_hours": 300}},
                    {"task": "Check belts", "every": {"days": 30}, "groups": ["lab"]},
                    {"task": "Clean fan", "every": {"jobs": 50}, "printers": ["mini"]},
                ]
            },
            "printers": [
                {"name": "mk3", "path": "/p/", "upstream": "http://x", "groups": ["lab"],
                 "maintenance": [{"task": "Replace nozzle", "every": {"print_hours": 200}}]},
                {"name": "mini", "path": "/q/", "upstream": "http://y"},
            ],
        }
    )  # fmt: skip
    mk3, mini = fleet.printers
    assert [(t.task, t.every) for t in tasks_for(fleet, mk3)] == [
        ("Check belts", (("days", 30.0),)),
        ("Replace nozzle", (("print_hours", 200.0),)),
    ]
    assert [t.task for t in tasks_for(fleet, mini)] == ["Replace nozzle", "Clean fan"]
    assert tasks_for(fleet, FleetPrinter("new", "/n/", "http://z")) == list(fleet.maintenance[:1])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"every": {"jobs": 1}}, r"\.task must be a name"),
        ({"task": "x"}, r"\.every must name at least one of"),
        ({"task": "x", "every": {"miles": 3}}, "unknown miles"),
        ({"task": "x", "every": {"jobs": 0}}, "every.jobs must be a number above 0"),
        ({"task": "x", "every": {"jobs": True}}, "every.jobs must be a number above 0"),
        ({"task": "x", "every": {"jobs": 1}, "groups": "lab"}, r"\.groups must be a list"),
    ],
)
def test_a_bad_task_is_refused_with_where_and_why(raw: object, message: str) -> None:
    with pytest.raises(ServiceTaskError, match=message):
        parse_task(raw, "site.maintenance[0]")
    with pytest.raises(FleetFileError, match=r"site\.maintenance\[0\]"):
        parse_fleet({"site": {"maintenance": [raw]}, "printers": []})


def test_a_print_server_answer_that_is_not_counters_is_refused() -> None:
    good = {"print_seconds": 1, "filament_mm": 2, "move_mm": 3, "jobs": {"failed": 1},
            "heater_on_seconds": {"T0": 4}}  # fmt: skip
    parsed = parse_counters(good, 7.0)
    assert (parsed.at, parsed.jobs_total, parsed.hotend_seconds) == (7.0, 1, 4.0)
    with pytest.raises(CountersError, match="not a JSON object"):
        parse_counters([], 0.0)
    with pytest.raises(CountersError, match="'move_mm' is not a number"):
        parse_counters({**good, "move_mm": "far"}, 0.0)
    with pytest.raises(CountersError, match="'print_seconds' is negative"):
        parse_counters({**good, "print_seconds": -5}, 0.0)
