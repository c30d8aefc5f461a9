"""The fleet soak's checks catch what they are for (docs/soak.md): a line run twice or lost, a
resume line past what the printer ran, an entry printed twice or left printing, a job ended by
no fault; and its plan is the seed's and nothing else's."""

from __future__ import annotations

import itertools

from bench.soak import checks
from bench.soak.jobs import FIXTURES, first_layers, job_files
from bench.soak.plan import KILL_PRINT_SERVER, REBOOT, RESTART_HUB, UNPLUG, draw_plan
from bench.soak.watch import Watcher

FILE = checks.FileLines(
    ["G28", "M190 S60", "G1 Z0.2", "G1 X1 E1", "G1 X2 E2", "G1 X3 E3"], [3, 5, 6, 8, 9, 10]
)
FILES = {"part.gcode": FILE}


def job(
    id: int, outcome: str, start: float, end: float, reason: str | None = None,
    last_line: int | None = None, printer: str = "p01",
) -> checks.Job:  # fmt: skip
    return checks.Job(printer, id, f"q{id}-part.gcode", start, end, outcome, reason, last_line)


def losses_of_streams(executed: list[str], jobs: list[checks.Job]) -> list[str]:
    verdict = checks.Verdict()
    checks.check_streams("p01", executed, jobs, FILES, verdict)
    return verdict.losses


def test_a_completed_job_must_have_run_every_line_once_in_order() -> None:
    handshake = ["M110 N0", "M115", "M155 S1"]
    whole = handshake + FILE.commands + ["M104 S0"]
    assert losses_of_streams(whole, [job(1, "completed", 0, 10)]) == []
    twice = handshake + FILE.commands[:4] + FILE.commands[3:]
    [loss] = losses_of_streams(twice, [job(1, "completed", 0, 10)])
    assert "executed command 5 of 6 as ['G1 X1 E1'" in loss
    lost = handshake + FILE.commands[:2] + FILE.commands[3:]
    assert len(losses_of_streams(lost, [job(1, "completed", 0, 10)])) == 1


def test_an_interrupted_job_must_offer_the_line_the_printer_reached() -> None:
    # Killed after 4 commands, the next job printed whole after it.
    executed = [*FILE.commands[:4], "M110 N0", *FILE.commands]
    right = [job(1, "interrupted", 0, 5, last_line=8), job(2, "completed", 6, 20)]
    assert losses_of_streams(executed, right) == []
    past = [job(1, "interrupted", 0, 5, last_line=10), job(2, "completed", 6, 20)]
    [loss] = losses_of_streams(executed, past)
    assert "resuming would leave a gap" in loss


def test_a_job_ended_by_no_fault_or_the_wrong_one_is_a_loss() -> None:
    kill = checks.FaultAt(KILL_PRINT_SERVER, "p01", 100.0, 100.1)
    hub = checks.FaultAt(RESTART_HUB, None, 100.0, 105.0)
    reboot = checks.FaultAt(REBOOT, None, 300.0, 310.0)

    def losses(j: checks.Job, faults: list[checks.FaultAt]) -> list[str]:
        verdict = checks.Verdict()
        checks.check_job(j, faults, None, verdict)
        return verdict.losses

    stopped = checks.STOPPED_UNEXPECTEDLY
    # Killed during its heat-up: closed at its last sign of life, before the kill.
    assert losses(job(1, "interrupted", 90, 95, stopped), [kill]) == []
    assert losses(job(1, "interrupted", 90, 95, stopped), [hub]) != []
    assert losses(job(1, "interrupted", 90, 120, "printer disconnected: x"), [kill]) != []
    assert losses(job(1, "completed", 90, 130), [hub]) == []
    assert losses(job(1, "completed", 90, 130), [kill]) != []
    # The next job, started 2 s after the kill on the print server's new process: untouched.
    assert losses(job(2, "completed", 102, 150), [kill]) == []
    assert losses(job(2, "completed", 100.05, 150), [kill]) != []
    assert losses(job(1, "completed", 290, 330, printer="p09"), [reboot]) != []
    assert losses(job(1, "failed", 90, 130), []) != []
    unplug = checks.FaultAt(UNPLUG, "p01", 100.0, 110.0)
    assert losses(job(1, "interrupted", 90, 100.2, "printer disconnected: x"), [unplug]) == []


def test_an_entry_printed_twice_or_left_printing_is_a_loss() -> None:
    def entry(id: int, state: str, requeues: int = 0) -> checks.Entry:
        return checks.Entry(id, id, "part.gcode", state, "p01", None, requeues, None)

    def losses(entries: list[checks.Entry], jobs: list[checks.Job]) -> list[str]:
        verdict = checks.Verdict()
        by_id = {e.id: e for e in entries}
        checks.check_entries(by_id, list(by_id), jobs, verdict)
        return verdict.losses

    assert losses([entry(1, "done")], [job(1, "completed", 0, 10)]) == []
    twice = [job(1, "completed", 0, 10), job(1, "completed", 20, 30)]
    assert any("printed 2 times" in x for x in losses([entry(1, "done", 1)], twice))
    sent_twice = [job(1, "interrupted", 0, 10), job(1, "completed", 20, 30)]
    assert any("2 jobs for 1 sends" in x for x in losses([entry(1, "done")], sent_twice))
    assert losses([entry(1, "done", 1)], sent_twice) == []
    stuck = losses([entry(1, "printing")], [job(1, "interrupted", 0, 10)])
    assert any("printing at the end" in x for x in stuck)
    assert losses([], []) == ["nothing was queued: the operator could not submit a single entry"]


def test_the_plan_is_the_seeds() -> None:
    kinds = (UNPLUG, KILL_PRINT_SERVER, REBOOT)
    assert draw_plan(18, 20, 150, kinds) == draw_plan(18, 20, 150, kinds)
    assert draw_plan(18, 20, 150, kinds) != draw_plan(19, 20, 150, kinds)
    plan = draw_plan(18, 20, 150, kinds)
    assert {f.kind for f in plan.faults} == set(kinds)
    times = sorted(f.at for f in plan.faults)
    assert all(b - a >= 8 for a, b in itertools.pairwise(times))
    assert all(30 <= t <= 120 for t in times)


def test_the_soaks_files_are_prefixes_of_real_slicer_files() -> None:
    for made in job_files():
        text = made.data.decode()
        source = (FIXTURES / made.source).read_text()
        assert source.startswith(text) and len(text) < len(source) / 5
        # One more layer is a longer prefix: the cut is at a layer's start.
        longer = first_layers(source, made.layers + 1)
        assert longer.startswith(text) and len(longer) > len(text)


def test_memory_counts_after_the_warm_up_and_catches_growth() -> None:
    # A print server restarted at t=100: 3 MiB while it imports, 28 once it runs, flat.
    flat = [(float(t), 100.0, 3.0 if t < 130 else 28.0) for t in range(110, 400, 20)]
    growing = [(float(t), 100.0, 28.0 + (t - 150) / 10) for t in range(110, 400, 20)]
    series = {"printer-p01": flat, "printer-p02": growing}
    verdict = checks.Verdict()
    checks.check_memory(checks.memory_growth(series, 10.0, 0.25, 60.0), verdict)
    assert [loss.split(":")[0] for loss in verdict.losses] == ["printer-p02"]


def test_the_dashboard_latency_counts_new_job_ends_only() -> None:
    watcher = Watcher("http://127.0.0.1:1", "cookie")

    def show(job: int | None, ended: float | None, arrived: float, live: bool = True) -> None:
        last = None if job is None else {"id": job, "ended_at": ended, "reason": None}
        watcher._seen({"name": "p01", "status": {"last_job": last}}, arrived, live)

    show(3, 100.0, 500.0, live=False)  # the first snapshot: old news
    show(4, 600.0, 600.2)
    # Its print server restarted: no last job while it was away, then job 4 again.
    show(None, None, 700.0)
    show(4, 600.0, 2400.0)
    show(5, 2500.0, 2500.1)
    assert [(job, round(seconds, 1)) for _, job, seconds, _ in watcher.latencies] == [
        (4, 0.2),
        (5, 0.1),
    ]
