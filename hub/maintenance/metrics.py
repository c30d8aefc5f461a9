"""The hub's ``GET /metrics``: each printer's last counters reading and each service task's
share used, for the printers the caller may view (docs/maintenance.md).

Protected as a print server's ``/metrics`` is: only for a logged-in user or an API key
(``X-Api-Key`` or ``Authorization: Bearer``, as Prometheus sends it), never open.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.auth.current import current_user
from hub.auth.rights import User, may_view
from hub.context import CONTEXT
from hub.maintenance.counters import OUTCOMES
from hub.maintenance.service import MAINTENANCE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MaintenanceCollector(Collector):
    """The counters and task fractions of the printers ``user`` may view."""

    def __init__(self, app: web.Application, user: User) -> None:
        self._app = app
        self._user = user

    def collect(self) -> Iterator[Metric]:
        service = self._app[MAINTENANCE]
        printers = [p for p in self._app[CONTEXT].fleet.printers if may_view(self._user, p)]
        figures = {
            "print_seconds": GaugeMetricFamily(
                "fabfleet_printer_print_seconds", "printing time, last reading", labels=["printer"]
            ),
            "filament_mm": GaugeMetricFamily(
                "fabfleet_printer_filament_mm", "filament printed, last reading", labels=["printer"]
            ),
            "move_mm": GaugeMetricFamily(
                "fabfleet_printer_move_mm", "X/Y/Z travel, last reading", labels=["printer"]
            ),
        }
        jobs = GaugeMetricFamily(
            "fabfleet_printer_jobs", "jobs by outcome, last reading", labels=["printer", "outcome"]
        )
        heat = GaugeMetricFamily(
            "fabfleet_printer_heater_on_seconds",
            "time with a target above 0, last reading",
            labels=["printer", "heater"],
        )
        used = GaugeMetricFamily(
            "fabfleet_maintenance_used_ratio",
            "share of a service task's interval used (whichever interval is furthest)",
            labels=["printer", "task"],
        )
        for printer in printers:
            reading = service.readings.get(printer.name)
            if reading is not None:
                figures["print_seconds"].add_metric([printer.name], reading.print_seconds)
                figures["filament_mm"].add_metric([printer.name], reading.filament_mm)
                figures["move_mm"].add_metric([printer.name], reading.move_mm)
                for outcome in OUTCOMES:
                    jobs.add_metric([printer.name, outcome], reading.jobs.get(outcome, 0))
                for heater, seconds in sorted(reading.heater_on_seconds.items()):
                    heat.add_metric([printer.name, heater], seconds)
            for state in service.states(printer.name):
                if state.fraction is not None:
                    used.add_metric([printer.name, state.task], state.fraction)
        yield from (*figures.values(), jobs, heat, used)


async def get_metrics(request: web.Request) -> web.Response:
    user = current_user(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MaintenanceCollector(request.app, user))
    return web.Response(
        body=generate_latest(registry),
        headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", get_metrics)
