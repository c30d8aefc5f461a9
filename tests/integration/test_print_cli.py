"""``fabfleet-instance print`` against ``fabfleet-sim`` over a real pty and a real TCP socket."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings, PrinterState
from tests.integration.simulator import (
    GCODE,
    excerpt,
    file_commands,
    jobs,
    print_file,
    printed_commands,
    simulator,
    start_print,
)

SLICER_FILES = sorted(GCODE.glob("*.gcode"))


def assert_printed_exactly(executed: list[str], path: Path) -> None:
    # M105 asks for temperatures and nothing else: the host sends its own (polls, the
    # handshake's and a resend's probe), so a file's own M105 cannot be told apart.
    expected = [c for c in file_commands(path) if c != "M105"]
    printed = [c for c in printed_commands(executed, expected) if c != "M105"]
    assert len(printed) == len(expected), f"{len(printed)} executed, file has {len(expected)}"
    assert printed == expected


@pytest.mark.parametrize("transport", ["pty", "tcp"])
@pytest.mark.parametrize("path", SLICER_FILES, ids=lambda p: p.stem)
def test_clean_link_prints_every_line_exactly_once(
    tmp_path: Path, path: Path, transport: str
) -> None:
    with simulator(tmp_path, tcp=transport == "tcp") as sim:
        result = print_file(sim.port, path, tmp_path / "data")
        executed, _ = sim.executed_with_resets()
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout
    assert_printed_exactly(executed, path)
    [record] = jobs(tmp_path / "data")
    assert record["outcome"] == "completed"
    assert record["last_line"] == max(
        n for n, line in enumerate(path.read_text().splitlines(), 1) if line.split(";")[0].strip()
    )


@pytest.mark.parametrize("path", SLICER_FILES, ids=lambda p: p.stem)
def test_five_percent_corruption_over_pty(tmp_path: Path, path: Path) -> None:
    with simulator(tmp_path, "--fault", "corrupt_line:probability=0.05", "--seed", "7") as sim:
        result = print_file(sim.port, path, tmp_path / "data")
        executed, _ = sim.executed_with_resets()
    assert result.returncode == 0, result.stderr
    assert_printed_exactly(executed, path)


def test_five_percent_corruption_over_tcp_with_latency_and_baud(tmp_path: Path) -> None:
    path = excerpt(GCODE / "cube_prusa_marlin2.gcode", tmp_path / "cube.gcode", 3000)
    with simulator(
        tmp_path,
        "--fault",
        "random_resend:probability=0.05",
        "--baud",
        "250000",
        "--latency",
        "2",
        tcp=True,
    ) as sim:
        result = print_file(sim.port, path, tmp_path / "data")
        executed, _ = sim.executed_with_resets()
        ran = {tail.index for tail in sim.tails() if tail.executed}
    assert result.returncode == 0, result.stderr
    # Many lines in flight at 250000 baud: Marlin's drain may cut a line behind a damaged
    # one, and it runs the tail (docs/firmware-behaviour.md). Those it counted aside, the
    # file ran exactly; tests/integration/test_firmware_matrix.py checks each is recorded.
    assert_printed_exactly([c for i, c in enumerate(executed) if i not in ran], path)


# Each fault, as flags to fabfleet-sim, and what must come of the print:
# "completed" (every line exactly once) or the words the failure must state.
COMPLETES = "completed"
FAULT_CASES: list[tuple[str, list[str], str]] = [
    ("drop_line", ["--fault", "drop_line:at_line=150", "--fault", "drop_line:at_line=900"], COMPLETES),
    ("double_resend", ["--fault", "double_resend:probability=0.02"], COMPLETES),
    ("resend_without_ok", ["--fault", "resend_without_ok:every=300"], COMPLETES),
    ("resend_without_ok_plain", ["--no-advanced-ok", "--fault", "resend_without_ok:at_line=700"], COMPLETES),
    ("resend_form_nospace", ["--fault", "resend_format:form=nospace", "--fault", "corrupt_line:probability=0.02"], COMPLETES),
    ("resend_form_rs", ["--fault", "resend_format:form=rs", "--fault", "corrupt_line:probability=0.02"], COMPLETES),
    ("resend_form_teacup", ["--fault", "resend_format:form=teacup", "--fault", "corrupt_line:probability=0.02"], COMPLETES),
    ("resend_unsent", ["--fault", "resend_unsent:at_line=400"], COMPLETES),
    ("resend_old", ["--fault", "resend_old:at_line=700,back=600"], "older than the kept history"),
    ("endless_resend", ["--fault", "endless_resend:at_line=500"], "keeps asking for line"),
    ("lost_ok", ["--fault", "lost_ok:probability=0.01"], COMPLETES),
    ("lost_ok_plain", ["--no-advanced-ok", "--fault", "lost_ok:at_line=800"], COMPLETES),
    ("extra_ok", ["--fault", "extra_ok:every=50"], COMPLETES),
    ("ok_colon", ["--fault", "ok_variant:style=colon"], COMPLETES),
    ("ok_number", ["--fault", "ok_variant:style=number"], COMPLETES),
    ("ok_plain", ["--fault", "ok_variant:style=plain"], COMPLETES),
    ("ok_temperature", ["--fault", "ok_variant:style=temperature"], COMPLETES),
    ("ok_before_output", ["--fault", "ok_before_output"], COMPLETES),
    ("temperature_formats", ["--fault", "temperature_format:style=marlin1"], COMPLETES),
    ("unsolicited", ["--fault", "unsolicited:every=7,what=autoreport", "--fault", "unsolicited:every=11,what=echo"], COMPLETES),
    ("garbage", ["--fault", "garbage:every=500,what=binary", "--fault", "garbage:every=700,what=nul"], COMPLETES),
    ("crlf", ["--fault", "crlf"], COMPLETES),
    ("split_writes", ["--fault", "split_writes:gap=0.001"], COMPLETES),
    ("long_line", ["--fault", "long_line:every=1000,length=5000"], COMPLETES),
    ("wait_idle", ["--fault", "wait_idle:interval=0.5"], COMPLETES),
    ("silence", ["--fault", "silence:at_line=600,seconds=2"], COMPLETES),
    ("silence_forever", ["--fault", "silence:at_line=600"], "stopped answering"),
    ("long_command_busy", ["--fault", "long_command:at_line=300,seconds=4,keepalive=true"], COMPLETES),
    ("long_command_quiet", ["--fault", "long_command:at_line=300,seconds=3,keepalive=false"], COMPLETES),
    ("write_stall", ["--fault", "write_stall:at_line=300,seconds=2"], COMPLETES),
    ("slow_planner", ["--fault", "slow_planner:delay=0.002"], COMPLETES),
    ("reset_on_open", ["--fault", "reset_on_open:boot_seconds=1"], COMPLETES),
    ("reset_mid_print", ["--fault", "reset:at_line=800"], "printer reset"),
    ("fatal_error", ["--fault", "fatal_error:at_line=800,kind=thermal_runaway"], "Thermal Runaway"),
    ("maxtemp", ["--fault", "fatal_error:at_line=800,kind=maxtemp"], "MAXTEMP"),
    ("repetier_fatal", ["--fault", "fatal_error:at_line=800,kind=repetier"], "Printer stopped"),
    ("no_advanced_ok", ["--no-advanced-ok", "--fault", "corrupt_line:probability=0.03"], COMPLETES),
    ("marlin1", ["--identity", "marlin1", "--fault", "corrupt_line:probability=0.03"], COMPLETES),
    ("prusa", ["--identity", "prusa", "--fault", "corrupt_line:probability=0.03"], COMPLETES),
    ("repetier", ["--identity", "repetier", "--fault", "corrupt_line:probability=0.03"], COMPLETES),
    ("rrf", ["--identity", "rrf", "--no-emergency-parser", "--fault", "corrupt_line:probability=0.03"], COMPLETES),
    ("no_capabilities", ["--capabilities-report", "none", "--no-autoreport"], COMPLETES),
    ("partial_capabilities", ["--capabilities-report", "partial"], COMPLETES),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "outcome"), [c[1:] for c in FAULT_CASES], ids=[c[0] for c in FAULT_CASES]
)
def test_fault_scenarios_complete_exactly_or_fail_with_a_stated_reason(
    tmp_path: Path, flags: list[str], outcome: str
) -> None:  # fmt: skip
    path = excerpt(GCODE / "cube_prusa_marlin2.gcode", tmp_path / "cube.gcode", 2500)
    with simulator(tmp_path, *flags) as sim:
        result = print_file(sim.port, path, tmp_path / "data", "--response-timeout", "1.5")
        executed, _ = sim.executed_with_resets()
    [record] = jobs(tmp_path / "data")
    if outcome == COMPLETES:
        assert result.returncode == 0, result.stderr + result.stdout
        assert record["outcome"] == "completed"
        assert_printed_exactly(executed, path)
        return
    assert result.returncode == 1, result.stderr + result.stdout
    assert record["outcome"] in ("failed", "interrupted")
    assert outcome in str(record["reason"]), record
    assert outcome in result.stdout
    # Whatever was executed is an exact prefix of the file: nothing skipped, nothing twice.
    expected = file_commands(path)
    printed = printed_commands(executed, expected)
    if "printer reset" not in outcome:
        assert printed == expected[: len(printed)]
    assert record["last_line"] is not None


def state_of(printer: Printer) -> PrinterState:
    """The state now (a call, so the type checker does not pin it between awaits)."""
    return printer.state


def test_unplug_mid_print_is_recorded_and_the_printer_comes_back(tmp_path: Path) -> None:
    path = excerpt(GCODE / "cube_prusa_marlin2.gcode", tmp_path / "cube.gcode", 4000)

    async def scenario(port: str) -> None:
        printer = Printer(
            PrinterSettings(
                link=LinkSettings(port=port, response_timeout=2.0, reconnect_delay=0.3),
                data_dir=tmp_path / "data",
            )
        )
        await printer.start()
        try:
            await asyncio.wait_for(printer.link.wait_ready(), 15)
            await printer.start_print(path)
            record = await asyncio.wait_for(printer.wait_for_job(), 60)
            assert record is not None
            assert record.outcome == "interrupted"
            assert record.reason is not None and "printer disconnected" in record.reason
            assert record.last_line is not None and record.last_line > 0
            assert state_of(printer) is PrinterState.OFFLINE
            # The simulator plugs the printer back in after 2 s; no one has to act.
            await asyncio.wait_for(printer.link.wait_ready(), 20)
            assert state_of(printer) is PrinterState.FAILED  # the bed holds the half print
            printer.confirm_bed_clear()
            assert printer.state is PrinterState.READY
        finally:
            await printer.stop()

    with simulator(tmp_path, "--fault", "unplug:at_line=1500,seconds=2") as sim:
        asyncio.run(scenario(sim.port))
        executed, resets = sim.executed_with_resets()
    expected = file_commands(path)
    before_unplug = printed_commands(executed[: resets[0]], expected)
    assert before_unplug == expected[: len(before_unplug)]
    assert 1000 < len(before_unplug) < len(expected)


def test_kill_9_mid_print_leaves_an_interrupted_record_with_the_line(tmp_path: Path) -> None:
    path = excerpt(GCODE / "cube_slic3r.gcode", tmp_path / "cube.gcode", 5000)
    data = tmp_path / "data"
    with simulator(tmp_path, "--baud", "250000") as sim:
        process = start_print(sim.port, path, data)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            executed, _ = sim.executed_with_resets()
            if len(executed) > 2000:
                break
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        time.sleep(0.3)
        executed, _ = sim.executed_with_resets()
        listed = jobs(data)
        [record] = listed
        assert record["outcome"] == "interrupted"
        assert record["reason"] == "print server stopped unexpectedly"
        last_line = record["last_line"]
        assert isinstance(last_line, int)
        # The recorded line was really executed, and nothing much later was.
        commands = file_commands(path)
        printed = printed_commands(executed, commands)
        lines = [
            n
            for n, text in enumerate(path.read_text().splitlines(), 1)
            if text.split(";")[0].strip()
        ]
        acknowledged = lines.index(last_line) + 1
        assert acknowledged <= len(printed) <= acknowledged + 16
        # Restarting offers to resume it; resuming continues after that line.
        resumed = print_file(sim.port, path, data, "--resume", str(record["id"]))
        assert resumed.returncode == 0, resumed.stderr
        assert f"resuming job {record['id']}" in resumed.stderr
        executed_after, _ = sim.executed_with_resets()
    tail = printed_commands(executed_after[len(executed) :], commands)
    assert tail[-len(commands[acknowledged:]) :] == commands[acknowledged:]


def test_bad_port_and_missing_file_are_refused_clearly(tmp_path: Path) -> None:
    path = GCODE / "cube_slic3r.gcode"
    result = print_file("ftp://x", path, tmp_path / "data")
    assert result.returncode == 2
    assert "unknown port scheme" in result.stderr
    result = print_file("socket://127.0.0.1:1", tmp_path / "missing.gcode", tmp_path / "data")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_printer_that_never_answers_exits_3_with_the_reason(tmp_path: Path) -> None:
    result = print_file(
        str(tmp_path / "no-such-device"),
        GCODE / "cube_slic3r.gcode",
        tmp_path / "data",
        "--connect-timeout",
        "3",
    )
    assert result.returncode == 3
    assert "cannot open" in result.stderr
    assert "Traceback" not in result.stderr
