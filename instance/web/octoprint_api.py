"""The part of OctoPrint's REST API that slicers, the Cura plugin and scripts call.

Shapes follow OctoPrint's documentation; only the local origin exists (no SD card).
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from instance.files.analyses import DONE
from instance.files.store import StoredFile
from instance.printer import PrinterState
from instance.web import bodies, links
from instance.web.context import ServerContext, context
from instance.web.errors import ApiError, error_response, held_of
from instance.web.overrides import FEED_PERCENT, FLOW_PERCENT
from instance.web.uploads import receive_upload

log = logging.getLogger(__name__)

API_VERSION = "0.1"
SERVER_VERSION = "1.10.0"
VERSION_TEXT = f"OctoPrint {SERVER_VERSION} (fabfleet)"
PROFILE_ID = "_default"
BAUDRATES = [9600, 19200, 38400, 57600, 115200, 230400, 250000, 500000, 1000000]

_STATE_TEXT = {
    PrinterState.OFFLINE: "Offline",
    PrinterState.CONNECTING: "Connecting",
    PrinterState.READY: "Operational",
    PrinterState.PRINTING: "Printing",
    PrinterState.PAUSING: "Pausing",
    PrinterState.PAUSED: "Paused",
    PrinterState.CANCELLING: "Cancelling",
    PrinterState.FINISHED: "Operational (finished: confirm the bed is clear)",
    PrinterState.FAILED: "Operational (failed: confirm the bed is clear)",
    PrinterState.BED_NOT_CLEARED: "Operational (confirm the bed is clear)",
}
_HEATER_NAMES = {"B": "bed", "C": "chamber"}


def _connected(ctx: ServerContext) -> bool:
    return ctx.printer.link.ready


def state_json(ctx: ServerContext) -> dict[str, Any]:
    state = ctx.printer.state
    connected = _connected(ctx)
    busy = state in (
        PrinterState.PRINTING,
        PrinterState.PAUSING,
        PrinterState.PAUSED,
        PrinterState.CANCELLING,
    )
    return {
        "text": _STATE_TEXT[state],
        "flags": {
            "operational": connected,
            "printing": state is PrinterState.PRINTING,
            "cancelling": state is PrinterState.CANCELLING,
            "pausing": state is PrinterState.PAUSING,
            "paused": state is PrinterState.PAUSED,
            "resuming": False,
            "finishing": False,
            "closedOrError": not connected,
            "error": state is PrinterState.FAILED
            or (not connected and ctx.printer.error is not None),
            "ready": connected and state is PrinterState.READY and not busy,
            "sdReady": False,
        },
        "error": ctx.printer.error or "",
    }


def file_entry(request: web.Request, ctx: ServerContext, stored: StoredFile) -> dict[str, Any]:
    base = ctx.config.base_path
    quoted = links.quoted(stored.name)
    entry: dict[str, Any] = {
        "name": stored.name,
        "display": stored.name,
        "path": stored.name,
        "type": "machinecode",
        "typePath": ["machinecode", "gcode"],
        "origin": "local",
        "size": stored.size,
        "date": int(stored.modified),
        "refs": {
            "resource": links.absolute(request, base, f"/api/files/local/{quoted}"),
            "download": links.absolute(request, base, f"/downloads/files/local/{quoted}"),
        },
    }
    analysis = ctx.analysis(stored)
    if analysis.status == DONE and analysis.octoprint is not None:
        entry["gcodeAnalysis"] = analysis.octoprint
    return entry


async def version(request: web.Request) -> web.Response:
    return web.json_response({"api": API_VERSION, "server": SERVER_VERSION, "text": VERSION_TEXT})


async def server(request: web.Request) -> web.Response:
    """OctoPrint's ``/api/server``: Home Assistant's client reads ``version`` and
    ``safemode`` (null: not in safe mode)."""
    return web.json_response({"version": SERVER_VERSION, "safemode": None})


UUID_FILE = "octoprint-uuid"


def discovery_uuid(data_dir: Path) -> str:
    """This printer's ``plugins.discovery.upnpUuid``: made once, kept in its data dir, so
    it is the same after a restart and differs from every other printer's (Home
    Assistant's integration takes its unique id from it)."""
    path = data_dir / UUID_FILE
    try:
        return str(uuid.UUID(path.read_text("ascii").strip()))
    except (OSError, ValueError):
        pass
    made = str(uuid.uuid4())
    partial = path.with_name(f".{UUID_FILE}.{os.getpid()}")
    try:
        partial.write_text(made + "\n", "ascii")
        os.replace(partial, path)
    except OSError as error:
        # A full disk: this answer's id stands, the next request tries to keep one again.
        log.warning("the discovery id could not be kept in %s: %s", path, error.strerror)
        partial.unlink(missing_ok=True)
    return made


async def list_files(request: web.Request) -> web.Response:
    ctx = context(request)
    origin = request.match_info.get("origin", "local")
    if origin not in ("local",):
        raise ApiError(404, f"unknown origin {origin!r}: only 'local' exists")
    free, total = ctx.store.disk()
    files = [file_entry(request, ctx, stored) for stored in ctx.store.list()]
    return web.json_response({"files": files, "free": free, "total": total})


async def upload(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.match_info["origin"] != "local":
        raise ApiError(404, "only the 'local' origin exists: there is no SD card here")
    received = await receive_upload(request, ctx)
    stored = ctx.store.stat(received.name)
    entry = file_entry(request, ctx, stored)
    body: dict[str, Any] = {
        "done": True,
        "files": {
            "local": {
                "name": stored.name,
                "display": stored.name,
                "path": stored.name,
                "origin": "local",
                "refs": entry["refs"],
            }
        },
        "effectiveSelect": received.select_requested,
        "effectivePrint": False,
    }
    headers = {"Location": entry["refs"]["resource"]}
    if received.select_requested:
        ctx.selected = stored.name
    if received.print_requested:
        try:
            await ctx.start_print(stored.name, ctx.access.requester(request))
        except Exception as error:
            # The file stays stored (and selected): only the print was refused.
            return error_response(
                409, f"stored as {stored.name}, but not printed: {error}", **body, **held_of(error)
            )
        body["effectivePrint"] = True
    return web.json_response(body, status=201, headers=headers)


async def get_file(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.match_info["origin"] != "local":
        raise ApiError(404, "only the 'local' origin exists")
    stored = ctx.store.stat(request.match_info["name"])
    return web.json_response(file_entry(request, ctx, stored))


async def delete_file(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.match_info["origin"] != "local":
        raise ApiError(404, "only the 'local' origin exists")
    name = request.match_info["name"]
    ctx.store.delete(name, in_use=ctx.printing)
    ctx.analyser.forget(name)
    if ctx.toolpaths is not None:
        ctx.toolpaths.forget(name)
    if ctx.selected == name:
        ctx.selected = None
    return web.Response(status=204)


async def file_command(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.match_info["origin"] != "local":
        raise ApiError(404, "only the 'local' origin exists")
    name = request.match_info["name"]
    ctx.store.stat(name)
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    if command != "select":
        raise ApiError(400, f"unknown command {command!r}: this server knows 'select'")
    start = bodies.flag(body, "print")
    if start:
        await ctx.start_print(name, ctx.access.requester(request))
    else:
        ctx.selected = name
    return web.Response(status=204)


async def download(request: web.Request) -> web.FileResponse:
    ctx = context(request)
    return web.FileResponse(ctx.store.path(request.match_info["name"]))


def _job_file(request: web.Request, ctx: ServerContext) -> dict[str, Any]:
    job = ctx.printer.job
    name = job.file_name if job is not None else ctx.selected
    if name is None:
        return {"name": None, "origin": None, "size": None, "date": None, "path": None}
    try:
        stored = ctx.store.stat(name)
    except Exception:
        return {"name": name, "display": name, "origin": "local", "path": name,
                "size": None, "date": None}  # fmt: skip
    return {
        "name": stored.name,
        "display": stored.name,
        "origin": "local",
        "path": stored.name,
        "size": stored.size,
        "date": int(stored.modified),
    }


async def get_job(request: web.Request) -> web.Response:
    ctx = context(request)
    job = ctx.printer.job
    file = _job_file(request, ctx)
    estimated = filament = None
    if file["name"] is not None and file["size"] is not None:
        analysis = ctx.analysis(ctx.store.stat(file["name"]))
        if analysis.status == DONE and analysis.octoprint is not None:
            estimated = analysis.octoprint.get("estimatedPrintTime")
            filament = analysis.octoprint.get("filament")
    progress: dict[str, Any] = {
        "completion": None,
        "filepos": None,
        "printTime": None,
        "printTimeLeft": None,
        "printTimeLeftOrigin": None,
    }
    if job is not None:
        now = job.progress()
        progress = {
            "completion": round(now.fraction * 100, 3),
            "filepos": now.bytes_done,
            "printTime": round(now.elapsed),
            "printTimeLeft": None if now.remaining is None else round(now.remaining),
            "printTimeLeftOrigin": None if now.remaining is None else "estimate",
        }
    return web.json_response(
        {
            "job": {
                "file": file,
                "estimatedPrintTime": estimated,
                "filament": filament,
                "lastPrintTime": None,
                "user": None,
            },
            "progress": progress,
            "state": _STATE_TEXT[ctx.printer.state],
            "error": ctx.printer.error or "",
        }
    )


async def job_command(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    printer = ctx.printer
    if command == "start":
        if ctx.selected is None:
            raise ApiError(409, "no file is selected: select one first")
        await ctx.start_print(ctx.selected, ctx.access.requester(request))
    elif command == "pause":
        action = bodies.text(body, "action", required=False) or "toggle"
        if action not in ("pause", "resume", "toggle"):
            raise ApiError(400, f"action must be pause, resume or toggle, not {action!r}")
        if action == "toggle":
            action = "resume" if printer.state is PrinterState.PAUSED else "pause"
        if action == "pause":
            await ctx.begin(printer.pause(), "pause")
        else:
            await ctx.begin(printer.resume(), "resume")
    elif command == "cancel":
        await ctx.begin(printer.cancel(), "cancel")
    elif command == "restart":
        raise ApiError(
            409,
            "restart would print over the part on the bed: cancel the job, clear the bed,"
            " confirm it is clear, then start",
        )
    else:
        raise ApiError(400, f"unknown command {command!r}: start, pause, cancel or restart")
    return web.Response(status=204)


async def get_printer(request: web.Request) -> web.Response:
    ctx = context(request)
    if not _connected(ctx):
        raise ApiError(409, "Printer is not operational")
    temperature: dict[str, Any] = {}
    for name, (actual, target) in sorted(ctx.printer.heaters.items()):
        key = _HEATER_NAMES.get(name) or ("tool" + name[1:] if name.startswith("T") else name)
        temperature[key] = {"actual": actual, "target": target, "offset": 0}
    return web.json_response(
        {"temperature": temperature, "sd": {"ready": False}, "state": state_json(ctx)}
    )


async def printer_command(request: web.Request) -> web.Response:
    """G-code from a client (Cura's plugin batches them: ``{"commands": [...]}``)."""
    ctx = context(request)
    body = await bodies.json_object(request)
    single = bodies.text(body, "command", required=False)
    commands = body.get("commands", [single] if single is not None else None)
    if not isinstance(commands, list) or not commands:
        raise ApiError(400, "send 'command' (a string) or 'commands' (a list of strings)")
    for command in commands:
        if not isinstance(command, str) or not command.strip() or "\n" in command:
            raise ApiError(400, "each command must be one line of G-code")
    for command in commands:
        ctx.printer.send_gcode(command.strip())
    return web.Response(status=204)


def _factor(body: dict[str, Any], low: int, high: int) -> int:
    """OctoPrint's ``factor``: a whole percentage (110) or a fraction (1.1)."""
    value = body.get("factor")
    if isinstance(value, float) and value.is_integer() and value > 10:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value):
        value = round(value * 100)
    return bodies.whole({"factor": value}, "factor", low=low, high=high)


async def _only(request: web.Request, kind: str, accepted: str) -> dict[str, Any]:
    """The body of a ``kind`` command that must be ``accepted`` (the one this server runs)."""
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    if command != accepted:
        raise ApiError(400, f"unsupported {kind} command {command!r}: only {accepted!r}")
    return body


async def printhead_command(request: web.Request) -> web.Response:
    """Only ``feedrate`` (M220); jogs and homing go through the native API."""
    body = await _only(request, "printhead", "feedrate")
    context(request).overrides.set_feed(_factor(body, *FEED_PERCENT))
    return web.Response(status=204)


MAX_TEMPERATURE = 400.0


def _degrees(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{what} must be a number of degrees")
    if not 0 <= value <= MAX_TEMPERATURE:
        raise ApiError(400, f"{what} must be 0 to {MAX_TEMPERATURE:g} °C")
    return float(value)


async def tool_command(request: web.Request) -> web.Response:
    """``target`` (M104 per tool, Home Assistant's tool temperature) and ``flowrate`` (M221);
    the rest (offsets, extrude) goes through the native API."""
    ctx = context(request)
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    if command == "flowrate":
        ctx.overrides.set_flow(_factor(body, *FLOW_PERCENT))
    elif command == "target":
        targets = body.get("targets")
        if not isinstance(targets, dict) or not targets:
            raise ApiError(400, "'targets' must map tools (tool0) to degrees")
        commands = []
        for tool, value in targets.items():
            if not (tool.startswith("tool") and tool[4:].isdigit() and len(tool) < 8):
                raise ApiError(400, f"unknown tool {tool[:20]!r}: tool0, tool1, ...")
            commands.append(f"M104 T{int(tool[4:])} S{_degrees(value, tool):g}")
        _send(ctx, commands)
    else:
        raise ApiError(400, f"unsupported tool command {command!r}: 'target' or 'flowrate'")
    return web.Response(status=204)


async def bed_command(request: web.Request) -> web.Response:
    """``target`` (M140): Home Assistant's bed temperature."""
    body = await _only(request, "bed", "target")
    ctx = context(request)
    _send(ctx, [f"M140 S{_degrees(body.get('target'), 'target'):g}"])
    return web.Response(status=204)


def _send(ctx: ServerContext, commands: list[str]) -> None:
    if not _connected(ctx):
        raise ApiError(409, "Printer is not operational")
    for command in commands:
        ctx.printer.send_gcode(command)


def _snapshot(stream: str | None) -> str:
    """ustreamer's (and mjpg-streamer's) still frame beside its stream: ``?action=stream``
    becomes ``?action=snapshot``, a path ending ``/stream`` (as fabfleet's stack passes,
    ``/cameras/<name>/stream``) ends ``/snapshot``."""
    if stream and "action=stream" in stream:
        return stream.replace("action=stream", "action=snapshot")
    if stream and stream.endswith("/stream"):
        return stream.removesuffix("stream") + "snapshot"
    return ""


async def get_settings(request: web.Request) -> web.Response:
    ctx = context(request)
    camera = ctx.config.camera_url
    return web.json_response(
        {
            "api": {"enabled": True},
            "appearance": {"name": ctx.config.printer},
            "feature": {"sdSupport": False},
            "folder": {},
            "serial": {"port": ctx.config.port, "baudrate": ctx.config.baudrate},
            "temperature": {"profiles": []},
            "webcam": {
                "webcamEnabled": camera is not None,
                "streamUrl": camera or "",
                "snapshotUrl": _snapshot(camera),
                "snapshotSslValidation": True,
                "bitrate": "",
                "flipH": False,
                "flipV": False,
                "rotate90": False,
            },
            # Home Assistant's integration takes its unique id from the discovery uuid.
            "plugins": {
                "discovery": {
                    "upnpUuid": discovery_uuid(ctx.config.data_dir),
                    "publicHost": None,
                    "publicPort": None,
                    "httpUsername": "",
                    "httpPassword": "",
                }
            },
        }
    )


def _profile(ctx: ServerContext) -> dict[str, Any]:
    return {
        "id": PROFILE_ID,
        "name": ctx.config.printer,
        "model": "",
        "color": "default",
        "default": True,
        "current": True,
        "heatedBed": True,
        "heatedChamber": False,
        "volume": {
            "formFactor": "rectangular",
            "origin": "lowerleft",
            "width": 220,
            "depth": 220,
            "height": 250,
        },
        "extruder": {"count": 1, "nozzleDiameter": 0.4, "offsets": [[0.0, 0.0]]},
        "axes": {
            axis: {"speed": speed, "inverted": False}
            for axis, speed in (("x", 6000), ("y", 6000), ("z", 200), ("e", 300))
        },
    }


async def get_printer_profiles(request: web.Request) -> web.Response:
    return web.json_response({"profiles": {PROFILE_ID: _profile(context(request))}})


async def get_connection(request: web.Request) -> web.Response:
    ctx = context(request)
    connected = _connected(ctx)
    return web.json_response(
        {
            "current": {
                "state": _STATE_TEXT[ctx.printer.state],
                "port": ctx.config.port if connected else None,
                "baudrate": ctx.config.baudrate if connected else None,
                "printerProfile": PROFILE_ID,
            },
            "options": {
                "ports": [ctx.config.port],
                "baudrates": BAUDRATES,
                "printerProfiles": [{"id": PROFILE_ID, "name": ctx.config.printer}],
                "portPreference": ctx.config.port,
                "baudratePreference": ctx.config.baudrate,
                "printerProfilePreference": PROFILE_ID,
                "autoconnect": True,
            },
        }
    )


async def connection_command(request: web.Request) -> web.Response:
    """``connect`` (Home Assistant's ``printer_connect``, octorest's ``connect``): the print
    server keeps its own printer connected, so it is done when the printer answers;
    ``disconnect`` is refused (nothing else could use the port), as is anything else."""
    ctx = context(request)
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    if command == "disconnect":
        raise ApiError(409, "this print server keeps its printer connected: it does not let go")
    if command != "connect":
        raise ApiError(400, f"unsupported connection command {command!r}: only 'connect'")
    if not _connected(ctx):
        raise ApiError(409, f"the printer is {ctx.printer.state.value}: it connects by itself")
    return web.Response(status=204)


# OctoPrint's system commands (``/api/system/commands``: shut the host down, reboot it,
# restart the server). Home Assistant's integration offers them as buttons. A print server
# runs in a container beside its neighbours and may not touch the host, so it lists none
# and answers a press with a refusal that says so (409, never a silent 404).
NO_SYSTEM_COMMANDS = (
    "this print server cannot shut down, reboot or restart its host or itself: "
    "fabfleet runs it in a container; use the host's own tools"
)


async def list_system_commands(request: web.Request) -> web.Response:
    return web.json_response({"core": [], "custom": []})


async def list_system_commands_of(request: web.Request) -> web.Response:
    source = request.match_info["source"]
    if source not in ("core", "custom"):
        raise ApiError(404, f"no such source of system commands: {source!r} (core or custom)")
    return web.json_response([])


async def system_command(request: web.Request) -> web.Response:
    raise ApiError(409, NO_SYSTEM_COMMANDS)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/version", version)
    router.add_get("/api/server", server)
    router.add_get("/api/files", list_files)
    router.add_get("/api/files/{origin}", list_files)
    router.add_post("/api/files/{origin}", upload)
    router.add_get("/api/files/{origin}/{name}", get_file)
    router.add_delete("/api/files/{origin}/{name}", delete_file)
    router.add_post("/api/files/{origin}/{name}", file_command)
    router.add_get("/downloads/files/local/{name}", download)
    router.add_get("/api/job", get_job)
    router.add_post("/api/job", job_command)
    router.add_get("/api/printer", get_printer)
    router.add_post("/api/printer/command", printer_command)
    router.add_post("/api/printer/printhead", printhead_command)
    router.add_post("/api/printer/tool", tool_command)
    router.add_post("/api/printer/bed", bed_command)
    router.add_get("/api/settings", get_settings)
    router.add_get("/api/printerprofiles", get_printer_profiles)
    router.add_get("/api/connection", get_connection)
    router.add_post("/api/connection", connection_command)
    router.add_get("/api/system/commands", list_system_commands)
    router.add_get("/api/system/commands/{source}", list_system_commands_of)
    router.add_post("/api/system/commands/{source}/{action}", system_command)
