"""Prometheus ``/metrics``: state, temperatures, job, serial link, uploads, read at scrape time.

The official client library writes the exposition. Each app has a registry of its own (several
print servers share one process in the tests, so the library's global registry is never used)
holding one collector that reads the printer when scraped: nothing is counted twice. Families
built by a collector carry no ``_created`` series unless given one, and none is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from instance.odometer import OUTCOMES, Reading
from instance.printer import PrinterState
from instance.web.context import CONTEXT
from instance.web.events import EVENTS


class _Scrape:
    """The families of one scrape, in order; every sample is labelled with the printer."""

    def __init__(self, printer: str) -> None:
        self.printer = printer
        self.families: list[Metric] = []

    def gauge(self, name: str, help_text: str, *labels: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, help_text, labels=["printer", *labels])
        self.families.append(family)
        return family

    def counter(self, name: str, help_text: str, *labels: str) -> CounterMetricFamily:
        family = CounterMetricFamily(name, help_text, labels=["printer", *labels])
        self.families.append(family)
        return family

    def sample(
        self, family: GaugeMetricFamily | CounterMetricFamily, value: float | None, *labels: str
    ) -> None:
        """Adds a sample; an unknown value (None, NaN) is left out rather than shown as NaN."""
        if value is None or math.isnan(value):
            return
        family.add_metric([self.printer, *labels], value)


class PrinterCollector(Collector):
    """Reads one print server's printer, link, job and counters at every scrape."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        ctx = self._app[CONTEXT]
        printer = ctx.printer
        core = printer.link.core
        out = _Scrape(ctx.config.printer)

        state = out.gauge("fabfleet_printer_state", "1 for the printer's current state", "state")
        for each in PrinterState:
            out.sample(state, int(printer.state is each), each.value)
        connected = out.gauge("fabfleet_printer_connected", "1 while the serial link is ready")
        out.sample(connected, int(printer.link.ready))

        heaters = sorted(printer.heaters.items())
        actual = out.gauge("fabfleet_temperature_celsius", "heater or sensor reading", "heater")
        for heater, (reading, _) in heaters:
            out.sample(actual, float(reading), heater)
        target = out.gauge("fabfleet_temperature_target_celsius", "heater target", "heater")
        for heater, (_, wanted) in heaters:
            out.sample(target, None if wanted is None else float(wanted), heater)

        job = printer.job
        progress = job.progress() if job is not None else None
        out.sample(out.gauge("fabfleet_job_active", "1 while a job runs"), int(job is not None))
        ratio = out.gauge("fabfleet_job_progress_ratio", "share of the file's bytes acknowledged")
        elapsed = out.gauge("fabfleet_job_elapsed_seconds", "printing time so far, pauses excluded")
        remaining = out.gauge("fabfleet_job_remaining_seconds", "estimated time left")
        lines_done = out.gauge("fabfleet_job_lines_done", "commands of the file acknowledged")
        if progress is not None:
            out.sample(ratio, float(progress.fraction))
            out.sample(elapsed, float(progress.elapsed))
            left = progress.remaining
            out.sample(remaining, None if left is None else float(left))
            out.sample(lines_done, progress.lines_done)

        for name, help_text, value in (
            ("fabfleet_serial_lines_sent_total", "numbered lines written", core.lines_sent),
            ("fabfleet_serial_resends_total", "lines the printer asked again", core.resend_count),
            (
                "fabfleet_serial_tails_total",
                "lines cut by the firmware's own buffer drain that it ran or refused",
                core.tails_seen,
            ),
            (
                "fabfleet_serial_errors_total",
                "Error: lines from the printer",
                printer.link.line_errors,
            ),
            (
                "fabfleet_serial_disconnects_total",
                "times the link was lost",
                printer.link.disconnects,
            ),
        ):
            out.sample(out.counter(name, help_text), value)
        queue = out.gauge("fabfleet_serial_queue_depth", "commands waiting to be written")
        out.sample(queue, core.queued)
        in_flight = out.gauge("fabfleet_serial_in_flight", "commands written, not yet acknowledged")
        out.sample(in_flight, core.in_flight)

        counters = ctx.counters
        for name, help_text, value in (
            ("fabfleet_uploads_total", "files stored by upload", counters.uploads),
            ("fabfleet_uploads_refused_total", "uploads refused", counters.uploads_refused),
            ("fabfleet_upload_bytes_total", "bytes of stored uploads", counters.upload_bytes),
        ):
            out.sample(out.counter(name, help_text), value)
        _odometer(out, printer.counters())
        clients = out.gauge("fabfleet_event_clients", "live event streams connected")
        out.sample(clients, self._app[EVENTS].clients)
        yield from out.families


def _odometer(out: _Scrape, reading: Reading) -> None:
    """The printer's lifetime counters (docs/maintenance.md), kept across restarts."""
    for name, help_text, value in (
        ("fabfleet_print_seconds_total", "printing time, pauses excluded", reading.print_seconds),
        ("fabfleet_filament_mm_total", "filament printed", reading.filament_mm),
        ("fabfleet_move_mm_total", "X/Y/Z travel of the jobs' moves", reading.move_mm),
    ):
        out.sample(out.counter(name, help_text), value)
    jobs = out.counter("fabfleet_jobs_total", "jobs ended, by outcome", "outcome")
    for outcome in OUTCOMES:
        out.sample(jobs, reading.jobs.get(outcome, 0), outcome)
    heat = out.counter("fabfleet_heater_on_seconds_total", "time with a target above 0", "heater")
    for heater, seconds in sorted(reading.heater_on_seconds.items()):
        out.sample(heat, seconds, heater)


def add_routes(app: web.Application) -> None:
    """``GET /metrics`` from a registry of this app's own (after its context and events)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrinterCollector(app))
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
