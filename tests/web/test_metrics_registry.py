"""/metrics from the Prometheus client: one registry per print server, no ``_created`` series,
OpenMetrics for a scraper that asks for it.

Two print servers run in this one process, each with a simulated printer on a pty: each one's
/metrics names only its own printer, and the client library's global registry holds nothing of
either (it would refuse the second server's metric names, or mix both printers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp
import prometheus_client
import pytest

from instance.sim.options import SimOptions
from instance.sim.runner import serve_pty
from instance.web.config import ServeConfig
from instance.web.server import RunningServer, open_server
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(120)

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _ready(server: RunningServer) -> Callable[[], bool]:
    """A check that the server's printer has finished its handshake."""
    return lambda: server.ctx.printer.state.value == "ready"


async def scrape_two_servers(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Each server's /metrics as plain text and as OpenMetrics: {name: (text, openmetrics)}."""
    sims, servers = [], []
    out: dict[str, tuple[str, str]] = {}
    try:
        for name in ("left", "right"):
            link = tmp_path / name
            sims.append(await serve_pty(SimOptions(seed=1), [], str(link)))
            config = ServeConfig(
                port=str(link), data_dir=tmp_path / f"{name}-data", listen_port=0, printer=name
            )
            servers.append(await open_server(config))
        for server in servers:
            await wait_until(_ready(server), 60)
        async with aiohttp.ClientSession() as http:
            for server in servers:
                async with http.get(server.url + "/metrics") as plain:
                    text = await plain.text()
                wanted = {"Accept": "application/openmetrics-text; version=1.0.0"}
                async with http.get(server.url + "/metrics", headers=wanted) as negotiated:
                    assert negotiated.headers["Content-Type"].startswith(OPENMETRICS)
                    openmetrics = await negotiated.text()
                out[server.ctx.config.printer] = (text, openmetrics)
    finally:
        for server in servers:
            await server.close()
        for sim in sims:
            await sim.close()
    return out


def test_each_print_server_reports_only_its_own_printer_from_a_registry_of_its_own(
    tmp_path: Path,
) -> None:
    seen = asyncio.run(scrape_two_servers(tmp_path))
    assert set(seen) == {"left", "right"}
    for name, (text, openmetrics) in seen.items():
        other = "right" if name == "left" else "left"
        assert f'fabfleet_printer_state{{printer="{name}",state="ready"}} 1.0' in text
        assert f'printer="{other}"' not in text
        assert "_created" not in text
        assert "_created" not in openmetrics
        assert "# TYPE fabfleet_serial_resends counter" in openmetrics
        assert f'fabfleet_serial_resends_total{{printer="{name}"}} 0.0' in openmetrics
        assert openmetrics.endswith("# EOF\n")
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(n.startswith("fabfleet_") for n in global_names), global_names
