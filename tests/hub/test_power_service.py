"""``PowerService.ensure_on`` (what the fleet queue's dispatcher calls before sending a job),
in process with the hub's real context and database, Tasmota plug stand-ins as the devices
(tests/hub/power_stand_ins.py) and the live state set as the hub's watchers set it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from hub.config import HubConfig
from hub.fleet.live import PrinterLive
from hub.power.service import PowerService
from hub.power.state import PowerError
from hub.server import make_context
from tests.hub.conftest import printer_entry, unused_port
from tests.hub.power_stand_ins import TasmotaPlug, serving

pytestmark = pytest.mark.timeout(60)


def service_for(tmp_path: Path, fleet: dict[str, Any]) -> PowerService:
    (tmp_path / "fleet.json").write_text(json.dumps(fleet))
    config = HubConfig(
        data_dir=tmp_path / "data",
        fleet_file=tmp_path / "fleet.json",
        gate_key_file=tmp_path / "gate.key",
    )
    return PowerService(make_context(config))


def powered(name: str, plug: TasmotaPlug) -> dict[str, Any]:
    power = {"type": "tasmota", "host": plug.url.removeprefix("http://")}
    return printer_entry(name, f"http://127.0.0.1:{unused_port()}", power=power)


def up(service: PowerService, name: str, state: str = "ready") -> None:
    """What the hub's watcher does when the print server reports."""
    service.ctx.live.update(PrinterLive(name, state=state, online=True, status={"state": state}))


def test_ensure_on_switches_on_staggered_and_waits_for_the_printer(tmp_path: Path) -> None:
    with serving(TasmotaPlug()) as one, serving(TasmotaPlug()) as two:
        assert isinstance(one, TasmotaPlug) and isinstance(two, TasmotaPlug)
        fleet = {
            "site": {"power": {"stagger_seconds": 1.5, "boot_timeout": 10}},
            "printers": [powered("mk3", one), powered("mk4", two), printer_entry("bare", "x")],
            "cameras": [],
        }
        service = service_for(tmp_path, fleet)

        async def scenario() -> tuple[float, float]:
            await service.start()
            try:
                assert service.state("bare") is None
                await service.ensure_on("bare")  # no power device: nothing to do
                started = time.monotonic()
                both = asyncio.gather(service.ensure_on("mk3"), service.ensure_on("mk4"))
                await asyncio.sleep(0.5)
                assert not both.done()  # powered, but no printer connected yet
                up(service, "mk3", "offline")  # the print server answers, the board not yet
                await asyncio.sleep(0.2)
                assert not both.done()
                up(service, "mk3")
                up(service, "mk4")
                await asyncio.wait_for(both, 10)
                view = service.state("mk3")
                assert view is not None and view.known and view.on is True
                audited = service.ctx.db.execute(
                    "SELECT user, action, printer, detail FROM audit ORDER BY id"
                ).fetchall()
                # Both were asked at once: either may have been switched first.
                assert sorted(tuple(row) for row in audited) == [
                    ("hub", "power on", "mk3", "for a queued job"),
                    ("hub", "power on", "mk4", "for a queued job"),
                ]
                return started, time.monotonic()
            finally:
                await service.stop()
                service.ctx.db.close()

        asyncio.run(scenario())
        assert one.power == [True] and two.power == [True]
        first, second = one.switched_on_at(), two.switched_on_at()
        assert first is not None and second is not None
        assert abs(second - first) >= 1.4  # one power-on per stagger_seconds


def test_ensure_on_says_why_it_cannot(tmp_path: Path) -> None:
    with serving(TasmotaPlug(password="right")) as locked, serving(TasmotaPlug()) as plug:
        assert isinstance(locked, TasmotaPlug) and isinstance(plug, TasmotaPlug)
        fleet = {
            "site": {"power": {"boot_timeout": 5, "stagger_seconds": 0}},
            "printers": [
                powered("mk3", locked),
                powered("mk4", plug),
                printer_entry(
                    "gone", "x", power={"type": "tasmota", "host": f"127.0.0.1:{unused_port()}"}
                ),
            ],
            "cameras": [],
        }
        service = service_for(tmp_path, fleet)

        async def scenario() -> list[str]:
            await service.start()
            said = []
            try:
                for name in ("mk3", "gone", "mk4"):
                    try:
                        await service.ensure_on(name)
                    except PowerError as error:
                        said.append(str(error))
            finally:
                await service.stop()
                service.ctx.db.close()
            return said

        wrong, gone, late = asyncio.run(scenario())
        assert wrong.startswith("mk3 could not be switched on: the Tasmota plug at")
        assert "refused the user name or password" in wrong
        assert gone.startswith("gone could not be switched on:") and "did not answer" in gone
        assert late == (
            "mk4 has power, but its print server did not report the printer connected "
            "within 5 s (it does not answer)"
        )
        assert locked.power == [False] and plug.power == [True]
