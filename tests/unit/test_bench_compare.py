"""The OctoPrint comparison's figures: memory read from smaps_rollup, a window's sums, the
stutter verdict, the largest N of a ramp and the tables (bench/compare_figures.py)."""

from __future__ import annotations

import json
import math

import pytest

from bench.compare_figures import (
    MB,
    PrinterSample,
    Ramp,
    StepFigures,
    as_json,
    largest_without_stutter,
    ramps_from_json,
    report,
    smaps_rollup,
    steps_table,
    summarize,
    summarize_server,
    summary_table,
)

ROLLUP = """\
556eecc03000-7ffcf90d8000 ---p 00000000 00:00 0                          [rollup]
Rss:               48712 kB
Pss:               35120 kB
Pss_Anon:          30000 kB
Shared_Clean:      13000 kB
"""


def sample(
    cpu: float = 1.0, lines: int = 1000, starved: int = 0, printing: bool = True
) -> PrinterSample:
    return PrinterSample(
        cpu_seconds=cpu,
        rss_bytes=100 * MB,
        pss_bytes=80 * MB,
        lines=lines,
        moves=lines - 10,
        starved=starved,
        starved_seconds=0.05 * starved,
        printing=printing,
        children_cpu_seconds=0.4,
    )


def step(server: str, run: int, samples: list[PrinterSample]) -> StepFigures:
    return summarize(
        server, run, 20.0, samples, simulator_cpu_seconds=2.0, host_busy=0.5, load_average=1.0
    )


def test_smaps_rollup_gives_bytes_per_field_and_skips_the_header() -> None:
    fields = smaps_rollup(ROLLUP)
    assert fields["Rss"] == 48712 * 1024
    assert fields["Pss"] == 35120 * 1024
    assert "556eecc03000-7ffcf90d8000 ---p 00000000 00" not in fields


def test_a_window_gives_cpu_per_printer_per_1000_lines_and_memory_per_printer() -> None:
    figures = step("octoprint", 1, [sample(cpu=1.0, lines=800), sample(cpu=3.0, lines=1200)])
    assert figures.printers == 2
    assert figures.cpu_per_printer == pytest.approx(0.1)  # (1 + 3) / 2 printers / 20 s
    assert figures.cpu_per_printer_range == (0.05, 0.15)
    assert figures.cpu_s_per_1000_lines == pytest.approx(2.0)  # 4 CPU-s for 2000 lines
    assert figures.lines_per_s_per_printer == pytest.approx(50.0)
    assert figures.lines_per_s_range == (40.0, 60.0)
    assert (figures.rss_mb_per_printer, figures.pss_mb_per_printer) == (100.0, 80.0)
    assert figures.simulator_cpu == pytest.approx(0.1)
    assert figures.children_cpu == pytest.approx(0.02)  # apart from the server's own CPU
    assert not figures.stutter


def test_a_planner_that_ran_dry_or_a_job_that_stopped_is_stutter() -> None:
    starved = step("fabfleet", 1, [sample(), sample(starved=3)])
    assert starved.stutter
    assert (starved.starved, starved.printers_starved) == (3, 1)
    assert starved.starved_seconds == pytest.approx(0.15)
    stopped = step("fabfleet", 1, [sample(), sample(printing=False)])
    assert stopped.stutter
    assert stopped.not_printing == 1


def test_a_step_needs_printers_and_time() -> None:
    with pytest.raises(ValueError, match="at least one printer"):
        step("fabfleet", 1, [])


def test_the_largest_n_is_the_last_one_before_the_first_stutter() -> None:
    steps = [
        step("octoprint", 1, [sample()] * n)
        for n in (1, 5)
    ] + [step("octoprint", 1, [sample(starved=1)] + [sample()] * 9), step(
        "octoprint", 1, [sample()] * 20
    )]  # fmt: skip
    assert largest_without_stutter(steps) == 5
    assert largest_without_stutter(steps[2:]) == 0


def test_the_summary_spans_the_runs_and_says_when_the_cap_was_reached() -> None:
    steps = [
        step("fabfleet", 1, [sample(cpu=0.2)] * 1),
        step("fabfleet", 1, [sample(cpu=0.4)] * 4),
        step("fabfleet", 2, [sample(cpu=0.3)] * 1),
        step("fabfleet", 2, [sample(cpu=0.4)] * 4),
        step("octoprint", 1, [sample(cpu=2.0)] * 1),
        step("octoprint", 1, [sample(cpu=2.0, starved=1)] * 4),
    ]
    ours = summarize_server("fabfleet", steps, cores=2, idle={1: 0.005, 2: 0.005})
    theirs = summarize_server("octoprint", steps, cores=2)
    assert ours.runs == 2
    assert ours.n_max == (4, 4)
    assert ours.per_run == ((4, True), (4, True))
    assert ours.cpu_per_printer == (0.01, 0.02)
    assert ours.printers_per_core == (2.0, 2.0)
    assert ours.cpu_limited_printers == (133.3, 200.0)  # 2 cores / 0.015 and / 0.01
    assert ours.idle_cpu == (0.005, 0.005)
    # (0.01 - 0.005) cores at 50 lines/s: 0.1 CPU-s per 1000 lines above idle; 0.02: 0.3.
    assert ours.above_idle_per_1000_lines == (0.1, 0.3)
    assert theirs.n_max == (1, 1)
    assert theirs.per_run == ((1, False),)
    assert math.isnan(theirs.above_idle_per_1000_lines[0])  # its idle was not measured
    assert theirs.cpu_per_printer == (0.1, 0.1)  # only the window without stutter
    table = summary_table([ours, theirs], cores=2)
    assert "| fabfleet | 2 |" in table
    assert "| ≥ 4, ≥ 4 |" in table
    assert "| 1 |" in table
    assert "| octoprint | 1 |" in table
    rows = steps_table(steps).splitlines()
    assert len(rows) == 2 + len(steps)
    assert "| octoprint | 1 | 4 |" in rows[-1]


def test_a_server_without_windows_has_no_summary() -> None:
    with pytest.raises(ValueError, match="no windows"):
        summarize_server("octoprint", [], cores=2)


def test_saved_runs_of_several_files_make_one_report_with_runs_numbered_on() -> None:
    first = [
        Ramp("fabfleet", 1, [step("fabfleet", 1, [sample()] * 2)], "cap", 0.001),
        Ramp("octoprint", 1, [step("octoprint", 1, [sample(starved=1)])], "stutter at N=1"),
    ]
    second = [Ramp("fabfleet", 1, [step("fabfleet", 1, [sample()] * 4)], "cap", 0.002)]
    documents = [json.loads(json.dumps({"ramps": as_json(ramps)})) for ramps in (first, second)]
    ramps = ramps_from_json(documents)
    assert [(r.server, r.run) for r in ramps] == [
        ("fabfleet", 1),
        ("octoprint", 1),
        ("fabfleet", 2),
    ]
    assert ramps[2].steps[0].run == 2
    assert ramps[0].steps[0] == first[0].steps[0]
    assert math.isnan(ramps[1].idle_cpu)
    text, summaries = report(ramps, 2, "two files")
    assert text.startswith("two files")
    assert summaries[0].per_run == ((2, True), (4, True))
    assert summaries[1].per_run == ((0, False),)
    assert "| octoprint | 1 | 1 |" in text
    assert "n/a" in text  # OctoPrint's idle was not measured
    assert summaries[0].idle_cpu == (0.001, 0.002)
    older = ramps_from_json([{"ramps": [{**as_json(first[0]), "idle_cpu": None}]}, *documents])
    _, merged = report(older, 2, "an older file without the idle figure")
    assert merged[0].idle_cpu == (0.001, 0.002)  # the runs that measured it
