"""The after-job policy over a real pty: heaters and fans off once a job has ended, or kept.

The file's own end code turns only the hotend off, as many slicers' profiles do: the
bed would stay at 60 °C for minutes. With the default policy the print server turns
the bed and the fan off after that end code; with ``keep`` it leaves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from instance.after_job import AfterJobPolicy
from instance.job_records import JobOutcome
from instance.link import LinkSettings
from instance.materials import DEFAULT_MATERIALS
from instance.printer import Printer, PrinterSettings
from instance.sim.firmware import SimulatedFirmware
from instance.sim.options import SimOptions
from instance.sim.process import BIN
from instance.sim.runner import serve_pty
from tests.conftest import wait_until, without_host
from tests.web.server import running_server

pytestmark = pytest.mark.timeout(120)

# Heats, prints a few moves with the fan on, and ends turning the hotend off only.
SHORT_PRINT = """\
M140 S60
M104 S200
M190 S60
M109 S200
G28
M106 S255
G1 Z0.3 F600
G1 X20 Y20 E1 F1500
G1 X40 Y20 E2
G1 X40 Y40 E3
M104 S0 ; end code: the hotend only
"""


def bed_target(printer: Printer) -> float | None:
    return printer.heaters.get("B", (None, None))[1]


def reports(printer: Printer) -> int:
    """Temperature reports received so far (the terminal keeps the newest lines)."""
    return sum(1 for _, direction, text in printer.terminal if direction == "<" and "B:" in text)


@contextlib.asynccontextmanager
async def pty_printer(tmp_path: Path, policy: AfterJobPolicy) -> AsyncIterator[Rig]:
    """A print server with ``policy`` on a simulated printer behind a real pty."""
    link_path = tmp_path / "printer"
    server = await serve_pty(
        SimOptions(seed=1, move_timing="accelerated", time_factor=50.0), [], str(link_path)
    )
    printer = Printer(
        PrinterSettings(
            link=LinkSettings(port=str(link_path), response_timeout=3.0, reconnect_delay=0.2),
            data_dir=tmp_path / "data",
            temperature_interval=0.2,
            after_job=policy,
        )
    )
    try:
        await printer.start()
        await asyncio.wait_for(printer.link.wait_ready(), 30)
        yield Rig(printer, server.firmware)
    finally:
        await printer.stop()
        await server.close()


@dataclass
class Rig:
    printer: Printer
    firmware: SimulatedFirmware


async def settled(printer: Printer) -> None:
    """Two temperature reports later: what the printer reports now is settled."""
    seen = reports(printer)
    await wait_until(lambda: reports(printer) >= seen + 2)


async def print_and_watch(tmp_path: Path, policy: AfterJobPolicy) -> tuple[Printer, list[str]]:
    """Print SHORT_PRINT over a pty; the printer and what ran after the file's last line."""
    gcode = tmp_path / "short.gcode"
    gcode.write_text(SHORT_PRINT)
    async with pty_printer(tmp_path, policy) as rig:
        printer = rig.printer
        await printer.start_print(gcode)
        await wait_until(lambda: bed_target(printer) == 60)
        record = await asyncio.wait_for(printer.wait_for_job(), 60)
        assert record is not None and record.outcome is JobOutcome.COMPLETED
        if policy.acts:
            await wait_until(lambda: "M107" in rig.firmware.executed[-3:])
        await settled(printer)
        executed = without_host(rig.firmware.executed)
        last = max(i for i, command in enumerate(executed) if command.startswith("M104 S0"))
        return printer, executed[last + 1 :]


def test_after_a_completed_print_the_bed_and_fan_go_off(tmp_path: Path) -> None:
    async def scenario() -> None:
        printer, after = await print_and_watch(tmp_path, AfterJobPolicy())
        assert after == ["M104 T0 S0", "M140 S0", "M107"]
        assert bed_target(printer) == 0
        # The terminal says why the heaters went off.
        notes = [text for _, direction, text in printer.terminal if direction == "!"]
        assert notes == ["after the job: heaters off, fans off (after-job policy)"]

    asyncio.run(scenario())


def test_with_keep_the_bed_and_fan_stay_as_the_file_left_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        printer, after = await print_and_watch(tmp_path, AfterJobPolicy("keep", "keep"))
        assert after == []
        assert bed_target(printer) == 60

    asyncio.run(scenario())


def test_heaters_kept_fans_off(tmp_path: Path) -> None:
    async def scenario() -> None:
        printer, after = await print_and_watch(tmp_path, AfterJobPolicy("keep", "off"))
        assert after == ["M107"]
        assert bed_target(printer) == 60

    asyncio.run(scenario())


def test_never_during_a_pause_and_after_a_cancel_too(tmp_path: Path) -> None:
    moves = "".join(
        f"G1 X{10 + i % 100} Y{10 + (i * 7) % 100} E{i * 0.05:.2f} F3000\n" for i in range(3000)
    )
    gcode = tmp_path / "long.gcode"
    gcode.write_text(SHORT_PRINT.replace("M104 S0 ; end code: the hotend only\n", moves))

    async def scenario() -> None:
        async with pty_printer(tmp_path, AfterJobPolicy()) as rig:
            printer = rig.printer
            await printer.start_print(gcode)
            await wait_until(
                lambda: printer.job is not None and printer.job.progress().lines_done > 200
            )
            await printer.pause()
            paused_at = len(rig.firmware.executed)
            await settled(printer)
            # Paused, not ended: the bed and the fan stay on for the resume.
            assert bed_target(printer) == 60
            assert "M107" not in rig.firmware.executed[paused_at:]
            await printer.cancel()
            await wait_until(
                lambda: rig.firmware.executed[-3:] == ["M104 T0 S0", "M140 S0", "M107"]
            )
            await settled(printer)
            assert bed_target(printer) == 0

    asyncio.run(scenario())


def test_the_snapshot_shows_the_policy_and_presets_the_server_was_given(tmp_path: Path) -> None:
    presets = (
        '[{"name": "PLA", "hotend": 215, "bed": 55}, {"name": "PETG-CF", "hotend": 250, "bed": 80}]'
    )
    with running_server(
        tmp_path, "--after-job-heaters", "keep", env={"FABFLEET_PRESETS": presets}
    ) as served:
        snapshot = served.get("/api/v1/printer").json()
    assert snapshot["after_job"] == {"heaters": "keep", "fans": "off"}
    assert snapshot["presets"] == [
        {"name": "PLA", "hotend": 215, "bed": 55},
        {"name": "PETG-CF", "hotend": 250, "bed": 80},
    ]


def test_without_options_heaters_and_fans_go_off_and_every_material_is_offered(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path) as served:
        snapshot = served.get("/api/v1/printer").json()
    assert snapshot["after_job"] == {"heaters": "off", "fans": "off"}
    assert [p["name"] for p in snapshot["presets"]] == list(DEFAULT_MATERIALS)
    assert snapshot["presets"][0] == {"name": "PLA", "hotend": 210, "bed": 60}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--presets", '[{"name": "PLA", "hotend": 999, "bed": 60}]', "hotend 999 is not 0 to 450"),
        ("--presets", "PLA", "--presets: not JSON"),
        ("--after-job-fans", "maybe", "--after-job-fans: must be off or keep"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(option: str, value: str, message: str) -> None:
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "serve", "--port", "/dev/null", "--data-dir", "/tmp/x",
         option, value],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
