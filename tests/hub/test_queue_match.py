"""Which printer a queued job fits, and the reasons people read when it fits none."""

from __future__ import annotations

import pytest

from hub.fleet.live import PrinterLive
from hub.fleet.roster import Bed, Fleet, FleetPrinter, Profile
from hub.queue.gcode_scan import Box
from hub.queue.match import (
    Needs,
    Target,
    TargetError,
    fits,
    misfits,
    parse_tags,
    why_nowhere,
)
from hub.queue.reasons import Floor, job_reasons, printer_reasons

MK3 = FleetPrinter(
    name="mk3",
    path="/printers/mk3/",
    upstream="http://mk3",
    groups=("lab",),
    tags=("enclosure",),
    profile=Profile(materials=("PLA",), nozzle=0.4, bed=Bed(250, 210, 210)),
)
ANY = FleetPrinter(name="any", path="/printers/any/", upstream="http://any", groups=("lab", "big"))
SMALL = FleetPrinter(
    name="mini",
    path="/printers/mini/",
    upstream="http://mini",
    profile=Profile(materials=("PLA", "PETG"), nozzle=0.6, bed=Bed(180, 180, 180)),
)
CUBE = Box(83, 117, 83, 117, 0.2, 20)
FLEET_TARGET = Target.parse("fleet")


@pytest.mark.parametrize(
    ("needs", "printer", "reasons"),
    [
        # Nothing asked: anything fits.
        (Needs(FLEET_TARGET), MK3, []),
        # Material, case-insensitive; a printer with no materials listed takes any.
        (Needs(FLEET_TARGET, material="PLA"), MK3, []),
        (Needs(FLEET_TARGET, material="pla"), MK3, []),
        (Needs(FLEET_TARGET, material="PETG"), MK3, ["needs PETG; mk3 has PLA"]),
        (Needs(FLEET_TARGET, material="PETG"), ANY, []),
        (Needs(FLEET_TARGET, material="PETG"), SMALL, []),
        # Nozzle within 0.01 mm; a file naming none goes anywhere.
        (Needs(FLEET_TARGET, nozzle=0.4), MK3, []),
        (Needs(FLEET_TARGET, nozzle=0.405), MK3, []),
        (Needs(FLEET_TARGET, nozzle=0.6), MK3, ["needs a 0.6 mm nozzle; mk3 has 0.4 mm"]),
        (Needs(FLEET_TARGET, nozzle=0.4), SMALL, ["needs a 0.4 mm nozzle; mini has 0.6 mm"]),
        # The box on the bed (5 mm slack for purge lines); a printer without a bed size takes any.
        (Needs(FLEET_TARGET, box=CUBE), MK3, []),
        (Needs(FLEET_TARGET, box=Box(0.1, 145, -3, 200, 0.2, 20)), MK3, []),
        (Needs(FLEET_TARGET, box=Box(0, 240, 0, 200, 0.2, 20)), SMALL,
         ["needs X 0-240, Y 0-200, Z up to 20 mm; mini's bed is 180 x 180 x 180 mm"]),
        (Needs(FLEET_TARGET, box=Box(50, 60, 50, 60, 0.2, 211)), MK3,
         ["needs X 50-60, Y 50-60, Z up to 211 mm; mk3's bed is 250 x 210 x 210 mm"]),
        (Needs(FLEET_TARGET, box=Box(-50, 500, -50, 500, 0, 900)), ANY, []),
        # Tags: every one required must be on the printer.
        (Needs(FLEET_TARGET, tags=("enclosure",)), MK3, []),
        (Needs(FLEET_TARGET, tags=("enclosure", "abs")), MK3, ["needs tag abs; mk3 has enclosure"]),
        (Needs(FLEET_TARGET, tags=("enclosure",)), ANY, ["needs tag enclosure; any has none"]),
        # Targets.
        (Needs(Target.parse("group:lab")), MK3, []),
        (Needs(Target.parse("group:big")), MK3, ["mk3 is not in group:big"]),
        (Needs(Target.parse("printer:mk3")), MK3, []),
        (Needs(Target.parse("printer:any")), MK3, ["mk3 is not in printer:any"]),
        # Several reasons at once, all shown.
        (Needs(Target.parse("group:big"), material="ABS", nozzle=0.8, tags=("x",)), MK3,
         ["mk3 is not in group:big", "needs ABS; mk3 has PLA",
          "needs a 0.8 mm nozzle; mk3 has 0.4 mm", "needs tag x; mk3 has enclosure"]),
    ],
)  # fmt: skip
def test_misfits(needs: Needs, printer: FleetPrinter, reasons: list[str]) -> None:
    assert misfits(needs, printer) == reasons
    assert fits(needs, printer) == (reasons == [])


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("fleet", Target("fleet")),
        (" group:lab ", Target("group", "lab")),
        ("printer:mk3", Target("printer", "mk3")),
        ("printer: mk3", Target("printer", "mk3")),
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert Target.parse(text) == target
    assert Target.parse(str(target)) == target


@pytest.mark.parametrize("text", ["", "all", "group:", "printer", "camera:cam1", "Fleet"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(TargetError, match="is not fleet, group:NAME or printer:NAME"):
        Target.parse(text)


def test_target_printers_and_existence() -> None:
    fleet = Fleet(printers=(MK3, ANY, SMALL))
    assert [p.name for p in Target.parse("group:lab").printers(fleet)] == ["mk3", "any"]
    assert [p.name for p in Target.parse("fleet").printers(fleet)] == ["mk3", "any", "mini"]
    assert Target.parse("printer:mini").exists(fleet)
    assert not Target.parse("printer:gone").exists(fleet)
    assert not Target.parse("group:nobody").exists(fleet)
    assert Target.parse("fleet").exists(Fleet())


def test_why_nowhere_is_empty_when_one_fits() -> None:
    petg = Needs(FLEET_TARGET, material="PETG", nozzle=0.4)
    assert why_nowhere(petg, [MK3, ANY]) == []
    assert why_nowhere(petg, [MK3, SMALL]) == [
        "needs PETG; mk3 has PLA",
        "needs a 0.4 mm nozzle; mini has 0.6 mm",
    ]
    assert why_nowhere(petg, []) == []


def test_tags() -> None:
    assert parse_tags(" enclosure, pla,,pla ") == ("enclosure", "pla")
    assert parse_tags("") == ()


# --- why a job waits, why a printer takes no work (hub/queue/reasons.py) -----------------


def live(name: str, state: str = "ready", online: bool = True, **status: object) -> PrinterLive:
    return PrinterLive(name, state=state, online=online, status={"state": state, **status})


LAB = Needs(Target.parse("group:lab"), material="PLA", nozzle=0.4, box=CUBE)


def codes(reasons: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(r["code"], r["printer"]) for r in reasons]


def test_a_job_waiting_names_each_fitting_printer_and_what_holds_it() -> None:
    floor = Floor({
        "mk3": live("mk3", "printing", job={"file": "benchy.gcode"}),
        "any": live("any", "finished", bed_clear=False),
    })  # fmt: skip
    found = job_reasons(1, LAB, [MK3, ANY], floor)
    assert codes(found) == [("none_free", None), ("busy", "mk3"), ("bed_not_clear", "any")]
    assert found[1]["text"] == "mk3 is busy printing benchy.gcode"
    assert found[2]["text"] == "any's bed is not confirmed clear"
    both_busy = Floor({"mk3": live("mk3", "printing"), "any": live("any", "ready")},
                      occupied={"any": "part.gcode"})  # fmt: skip
    found = job_reasons(1, LAB, [MK3, ANY], both_busy)
    assert codes(found) == [("all_busy", None), ("busy", "mk3"), ("busy", "any")]
    assert found[0]["text"] == "Every printer that fits is busy: mk3, any"
    assert found[2]["text"] == "any is busy printing part.gcode"
    gone = Floor({"mk3": live("mk3", "offline"), "any": live("any", "unknown", online=False)})
    assert codes(job_reasons(1, LAB, [MK3, ANY], gone)) == [
        ("none_free", None), ("offline", "mk3"), ("unreachable", "any"),
    ]  # fmt: skip


def test_a_job_that_could_go_waits_for_the_heat_up_budget_or_the_next_round() -> None:
    ready = {"mk3": live("mk3"), "any": live("any", "printing")}
    budget = Floor(ready, heating=2, max_heating=2)
    found = job_reasons(1, LAB, [MK3, ANY], budget)
    assert codes(found) == [("heating_budget", None), ("busy", "any")]
    assert found[0]["text"] == "Heat-up budget full: 2 of 2 printers heating"
    assert codes(job_reasons(1, LAB, [MK3, ANY], Floor(ready))) == [("next_round", None)]
    refused = Floor(ready, refused=frozenset({(1, "mk3")}))
    assert codes(job_reasons(1, LAB, [MK3, ANY], refused)) == [
        ("none_free", None), ("refused", "mk3"), ("busy", "any"),
    ]  # fmt: skip


def test_a_job_no_printer_fits_any_more_lists_each_printers_misfits() -> None:
    petg = Needs(Target.parse("fleet"), material="PETG", nozzle=0.4)
    found = job_reasons(1, petg, [MK3], Floor({"mk3": live("mk3")}))
    assert codes(found) == [("no_printer_fits", None), ("misfit", "mk3")]
    assert found[1]["text"] == "needs PETG; mk3 has PLA"


def test_each_printer_says_whether_it_takes_work_and_why_not() -> None:
    fleet = Fleet(printers=(MK3, ANY, SMALL))
    floor = Floor({"mk3": live("mk3"), "any": live("any", "failed", bed_clear=False),
                   "mini": live("mini")})  # fmt: skip
    rows = {r["name"]: r for r in printer_reasons(fleet, floor, [LAB])}
    assert (rows["mk3"]["code"], rows["mk3"]["taking_work"]) == ("ready", True)
    assert (rows["any"]["code"], rows["any"]["state"]) == ("bed_not_clear", "failed")
    # The mini's 0.6 mm nozzle takes no waiting job.
    assert (rows["mini"]["code"], rows["mini"]["taking_work"]) == ("no_job_fits", False)
    assert rows["mini"]["reason"] == "mini does not match any waiting job"
    idle = {r["name"]: r["code"] for r in printer_reasons(fleet, floor, [])}
    assert idle == {"mk3": "idle", "any": "bed_not_clear", "mini": "idle"}
    nobody = {r["name"]: r["state"] for r in printer_reasons(fleet, Floor({}), [])}
    assert nobody == {"mk3": "unreachable", "any": "unreachable", "mini": "unreachable"}
