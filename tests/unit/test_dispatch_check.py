"""The dispatch check's items alone and together (hub/dispatch/check.py): what holds a job,
what only warns, and what an admin's override lets pass."""

from __future__ import annotations

from typing import Any

import pytest

from hub.dispatch.check import (
    ITEMS,
    JobSide,
    PowerFacts,
    PrinterSide,
    SiteRules,
    SpoolFacts,
    check,
    format_overrides,
    parse_overrides,
)
from hub.fleet.live import PrinterLive
from hub.fleet.roster import Bed, FleetPrinter, Profile
from hub.queue.gcode_scan import Box
from hub.queue.match import Needs, Target

MK3 = FleetPrinter(
    "mk3", "/printers/mk3/", "http://printer-mk3:8080",
    profile=Profile(materials=("PLA", "PETG"), nozzle=0.4, bed=Bed(250, 210, 210)),
)  # fmt: skip
# 1.24 g/cm³ PLA, 1.75 mm: about 2.98 g per metre.
PLA_G_PER_MM = 3.14159265 * (0.175 / 2) ** 2 * 0.1 * 1.24


def live(
    state: str = "ready", bed_clear: bool = True, online: bool = True, **status: Any
) -> PrinterLive:
    return PrinterLive("mk3", state, online, {"state": state, "bed_clear": bed_clear, **status})


def spool(remaining: float | None = 500.0, **changes: Any) -> SpoolFacts:
    facts: dict[str, Any] = {
        "label": "Prusament PLA Galaxy Black #12", "remaining_g": remaining,
        "grams_per_mm": PLA_G_PER_MM, "material": "PLA", "error": None,
    }  # fmt: skip
    facts.update(changes)
    return SpoolFacts(**facts)


def job(
    material: str | None = "PLA", filament_mm: float | None = 10_000.0, **overrides: str
) -> JobSide:
    needs = Needs(Target("fleet"), (), material, 0.4, Box(10, 60, 10, 60, 0.2, 20))
    return JobSide(needs, filament_mm, overrides)


def side(**changes: Any) -> PrinterSide:
    values: dict[str, Any] = {"printer": MK3, "live": live()}
    values.update(changes)
    return PrinterSide(**values)


TRACKED = SiteRules(spool_tracking=True)


def verdicts(result: Any) -> dict[str, str]:
    return {item.code: item.verdict for item in result.items}


def test_everything_in_order_passes_on_a_ready_printer() -> None:
    result = check(job(), side(spool=spool(), power=PowerFacts(True, True)), TRACKED)
    assert [item.code for item in result.items] == list(ITEMS)
    assert result.ready and not result.holds and not result.warnings
    assert result.summary() == "mk3 may start it"
    spool_item = next(i for i in result.items if i.code == "spool")
    assert "for the job's 30 g" in spool_item.text  # 10 m of 1.75 mm PLA is about 30 g


@pytest.mark.parametrize(
    ("printer_side", "code", "words"),
    [
        ({"live": live(online=False, state="unreachable")}, "printer", "does not answer"),
        ({"live": live(state="offline")}, "printer", "not connected"),
        ({"live": live(state="printing", job={"file": "a.gcode"})}, "printer",
         "busy printing a.gcode"),
        ({"occupied_by": "b.gcode"}, "printer", "busy printing b.gcode"),
        ({"live": live(state="bed not cleared", bed_clear=False)}, "bed", "not confirmed clear"),
        ({"power": PowerFacts(True, False)}, "power", "power is off"),
        ({"power": PowerFacts(False, None, "plug does not answer")}, "power",
         "unknown: plug does not answer"),
        ({"overdue": ("Replace nozzle: 312 of 300 print hours",)}, "maintenance", "Replace nozzle"),
        ({"heating": 2}, "heat", "2 of 2 printers heating"),
    ],
)  # fmt: skip
def test_each_printer_item_holds_alone(printer_side: dict[str, Any], code: str, words: str) -> None:
    rules = SiteRules(spool_tracking=True, max_heating=2)
    result = check(job(), side(spool=spool(), **printer_side), rules)
    assert [item.code for item in result.holds] == [code]
    assert words in result.holds[0].text
    assert not result.ready


@pytest.mark.parametrize(
    ("spool_facts", "the_job", "words"),
    [
        (None, job(), "no spool is assigned to mk3"),
        (spool(remaining=35.0), job(), "has 35 g left but the job needs 30 g plus 8.0 g to spare"),
        (spool(remaining=None), job(), "does not know how much is left"),
        (spool(error="Spoolman at http://sm:7912 does not answer"), job(), "does not answer"),
        (spool(material="PETG"), job(), "the file is for PLA"),
        (spool(), job(filament_mm=None), "how much filament the file uses is not known"),
        (spool(grams_per_mm=None), job(), "density"),
    ],
)
def test_each_spool_case_holds(
    spool_facts: SpoolFacts | None, the_job: JobSide, words: str
) -> None:
    result = check(the_job, side(spool=spool_facts), TRACKED)
    assert [item.code for item in result.holds] == ["spool"]
    assert words in result.holds[0].text


def test_the_margin_is_a_share_plus_grams() -> None:
    # 30 g needed, 10 % + 5 g margin: 38 g wanted.
    assert check(job(), side(spool=spool(38.0)), TRACKED).ready
    assert not check(job(), side(spool=spool(37.5)), TRACKED).ready
    generous = SiteRules(spool_tracking=True, spool_margin_percent=0, spool_margin_g=0)
    assert check(job(), side(spool=spool(30.0)), generous).ready


def test_without_spoolman_no_spool_is_needed() -> None:
    result = check(job(), side(spool=None), SiteRules(spool_tracking=False))
    assert result.ready
    assert "no spool tracking" in next(i.text for i in result.items if i.code == "spool")


def test_profile_misfit_holds() -> None:
    result = check(job(material="ABS"), side(), SiteRules())
    assert [item.code for item in result.holds] == ["profile"]
    assert "needs ABS" in result.holds[0].text


def test_overdue_maintenance_only_warns_when_the_site_says_so() -> None:
    overdue = ("Lubricate rails: 62 of 60 days",)
    held = check(job(), side(overdue=overdue), SiteRules(overdue="hold"))
    warned = check(job(), side(overdue=overdue), SiteRules(overdue="warn"))
    assert not held.ready
    assert warned.ready and [i.code for i in warned.warnings] == ["maintenance"]


def test_several_items_hold_together_and_all_are_said() -> None:
    result = check(
        job(),
        side(power=PowerFacts(True, False), spool=spool(3.0), heating=1,
             live=live(state="bed not cleared", bed_clear=False)),
        SiteRules(spool_tracking=True, max_heating=1),
    )  # fmt: skip
    assert [item.code for item in result.holds] == ["bed", "power", "spool", "heat"]
    assert result.summary().count(";") == 3


def test_an_override_lets_one_item_pass_and_names_the_admin() -> None:
    rules = SiteRules(spool_tracking=True, max_heating=1)
    held = side(spool=spool(3.0), heating=1)
    result = check(job(spool="ada"), held, rules)
    assert [item.code for item in result.holds] == ["heat"]
    passed = next(i for i in result.items if i.code == "spool")
    assert passed.verdict == "pass" and passed.overridden_by == "ada"
    assert "overridden by ada" in passed.text
    assert check(job(spool="ada", heat="ada"), held, rules).ready


def test_printer_and_bed_cannot_be_overridden() -> None:
    result = check(
        job(printer="ada", bed="ada"),
        side(live=live(state="bed not cleared", bed_clear=False)),
        SiteRules(),
    )
    assert [item.code for item in result.holds] == ["bed"]


def test_a_switched_off_printer_passes_when_the_queue_switches_it_on() -> None:
    off = side(live=live(state="offline"), power=PowerFacts(True, False), powers_on=True)
    result = check(job(), off, SiteRules())
    assert result.ready
    unknown = side(live=live(state="offline"), power=PowerFacts(False, None), powers_on=False)
    assert {i.code for i in check(job(), unknown, SiteRules()).holds} == {"printer", "power"}


def test_the_print_server_skips_what_it_checks_itself() -> None:
    result = check(job(), side(live=live(online=False)), SiteRules(), skip=("printer", "bed"))
    assert "printer" not in verdicts(result) and "bed" not in verdicts(result)
    assert result.ready


def test_overrides_are_stored_as_text_and_read_back() -> None:
    text = format_overrides({"spool": "ada", "heat": "bob"})
    assert text == "heat=bob,spool=ada"
    assert parse_overrides(text) == {"heat": "bob", "spool": "ada"}
    # Unknown or unoverridable items are never read back.
    assert parse_overrides("bed=ada,nonsense=x,spool=") == {}
