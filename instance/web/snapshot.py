"""The printer as JSON: what the native API returns and the event stream sends."""

from __future__ import annotations

import math
from typing import Any

from instance.analysis.toolpath import LayerIndex
from instance.materials import default_presets
from instance.printer import STALL_ONLY, Printer
from instance.web.context import ServerContext, job_record_json
from instance.web.toolpath_api import running_layers


def _number(value: float | None, digits: int = 2) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def heaters(printer: Printer) -> dict[str, dict[str, float | None]]:
    return {
        name: {"actual": _number(actual), "target": _number(target)}
        for name, (actual, target) in sorted(printer.heaters.items())
    }


def job(printer: Printer, layers: LayerIndex | None = None) -> dict[str, Any] | None:
    current = printer.job
    if current is None:
        return None
    progress = current.progress()
    # Layer and Z from the file's toolpath preview (None until it is built).
    position = None if layers is None else layers.at(progress.bytes_done)
    return {
        "id": current.id,
        "file": progress.file_name,
        "progress": _number(progress.fraction, 4),
        "bytes_done": progress.bytes_done,
        "bytes_total": progress.bytes_total,
        "layer": None if position is None else position[0],
        "layer_count": None if layers is None else len(layers.offsets),
        "z": None if position is None else position[1],
        "lines_done": progress.lines_done,
        "lines_total": progress.lines_total,
        # Whole seconds: a page shows no more, and the stream sends less.
        "elapsed": round(progress.elapsed),
        "remaining": None if progress.remaining is None else round(progress.remaining),
        "warnings": [warning.message for warning in printer.job_warnings],
    }


def presets(ctx: ServerContext) -> list[dict[str, object]]:
    """The printer's material presets (the built-in table when none were given)."""
    given = ctx.config.presets
    return [p.as_json() for p in (default_presets() if given is None else given)]


def after_job(printer: Printer) -> dict[str, str]:
    """What happens to the heaters and fans once a job has ended."""
    policy = printer.settings.after_job or STALL_ONLY
    return policy.as_json()


def timelapse(ctx: ServerContext) -> dict[str, object] | None:
    """Whether a job may have a timelapse here, and the printer's default (None: no camera)."""
    if ctx.timelapse is None:
        return None
    mode = ctx.timelapse.settings.mode
    return {"default": mode != "off", "mode": mode}


def printer_state(ctx: ServerContext) -> dict[str, Any]:
    printer = ctx.printer
    firmware = printer.firmware
    prompt = printer.prompt
    last = printer.last_job
    return {
        "name": ctx.config.printer,
        "state": printer.state.value,
        "connected": printer.link.ready,
        "error": printer.error,
        "notice": printer.notice,
        "bed_clear": printer.bed_clear,
        "firmware": None if firmware is None else {"name": firmware.name, **firmware.fields},
        "heaters": heaters(printer),
        "job": job(printer, running_layers(ctx)),
        "prompt": None if prompt is None else {"text": prompt.text, "choices": prompt.choices},
        "last_job": None if last is None else job_record_json(last),
        "selected_file": ctx.selected,
        "camera_url": ctx.config.camera_url,
        "timelapse": timelapse(ctx),
        "presets": presets(ctx),
        "after_job": after_job(printer),
        "overrides": ctx.overrides.to_json(),
    }
