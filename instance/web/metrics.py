"""Prometheus text exposition at ``/metrics``: state, temperatures, job, serial link, uploads."""

from __future__ import annotations

import math

from aiohttp import web

from instance.printer import PrinterState
from instance.web.context import context
from instance.web.events import EVENTS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float | None, **labels: str) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        where = f"{{{label_text}}}" if label_text else ""
        self.lines.append(f"{name}{where} {value:g}" if isinstance(value, float) else
                          f"{name}{where} {value}")  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def metrics(request: web.Request) -> web.Response:
    ctx = context(request)
    printer = ctx.printer
    core = printer.link.core
    out = _Exposition()
    name = ctx.config.printer

    out.metric("fabfleet_printer_state", "gauge", "1 for the printer's current state")
    for state in PrinterState:
        out.sample(
            "fabfleet_printer_state", int(printer.state is state), printer=name, state=state.value
        )
    out.metric("fabfleet_printer_connected", "gauge", "1 while the serial link is ready")
    out.sample("fabfleet_printer_connected", int(printer.link.ready), printer=name)

    out.metric("fabfleet_temperature_celsius", "gauge", "heater or sensor reading")
    for heater, (actual, _) in sorted(printer.heaters.items()):
        out.sample("fabfleet_temperature_celsius", float(actual), printer=name, heater=heater)
    out.metric("fabfleet_temperature_target_celsius", "gauge", "heater target")
    for heater, (_, target) in sorted(printer.heaters.items()):
        value = None if target is None else float(target)
        out.sample("fabfleet_temperature_target_celsius", value, printer=name, heater=heater)

    job = printer.job
    progress = job.progress() if job is not None else None
    out.metric("fabfleet_job_active", "gauge", "1 while a job runs")
    out.sample("fabfleet_job_active", int(job is not None), printer=name)
    out.metric("fabfleet_job_progress_ratio", "gauge", "share of the file's bytes acknowledged")
    out.metric("fabfleet_job_elapsed_seconds", "gauge", "printing time so far, pauses excluded")
    out.metric("fabfleet_job_remaining_seconds", "gauge", "estimated time left")
    out.metric("fabfleet_job_lines_done", "gauge", "commands of the file acknowledged")
    if progress is not None:
        out.sample("fabfleet_job_progress_ratio", float(progress.fraction), printer=name)
        out.sample("fabfleet_job_elapsed_seconds", float(progress.elapsed), printer=name)
        remaining = None if progress.remaining is None else float(progress.remaining)
        out.sample("fabfleet_job_remaining_seconds", remaining, printer=name)
        out.sample("fabfleet_job_lines_done", progress.lines_done, printer=name)

    out.metric("fabfleet_serial_lines_sent_total", "counter", "numbered lines written")
    out.sample("fabfleet_serial_lines_sent_total", core.lines_sent, printer=name)
    out.metric("fabfleet_serial_resends_total", "counter", "lines the printer asked again")
    out.sample("fabfleet_serial_resends_total", core.resend_count, printer=name)
    out.metric(
        "fabfleet_serial_tails_total",
        "counter",
        "lines cut by the firmware's own buffer drain that it ran or refused",
    )
    out.sample("fabfleet_serial_tails_total", core.tails_seen, printer=name)
    out.metric("fabfleet_serial_errors_total", "counter", "Error: lines from the printer")
    out.sample("fabfleet_serial_errors_total", printer.link.line_errors, printer=name)
    out.metric("fabfleet_serial_disconnects_total", "counter", "times the link was lost")
    out.sample("fabfleet_serial_disconnects_total", printer.link.disconnects, printer=name)
    out.metric("fabfleet_serial_queue_depth", "gauge", "commands waiting to be written")
    out.sample("fabfleet_serial_queue_depth", core.queued, printer=name)
    out.metric("fabfleet_serial_in_flight", "gauge", "commands written, not yet acknowledged")
    out.sample("fabfleet_serial_in_flight", core.in_flight, printer=name)

    counters = ctx.counters
    out.metric("fabfleet_uploads_total", "counter", "files stored by upload")
    out.sample("fabfleet_uploads_total", counters.uploads, printer=name)
    out.metric("fabfleet_uploads_refused_total", "counter", "uploads refused")
    out.sample("fabfleet_uploads_refused_total", counters.uploads_refused, printer=name)
    out.metric("fabfleet_upload_bytes_total", "counter", "bytes of stored uploads")
    out.sample("fabfleet_upload_bytes_total", counters.upload_bytes, printer=name)
    out.metric("fabfleet_event_clients", "gauge", "live event streams connected")
    out.sample("fabfleet_event_clients", request.app[EVENTS].clients, printer=name)
    body = ("\n".join(out.lines) + "\n").encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
