"""The printer in the native API: state, temperatures, the job, bed, prompts, terminal, moves."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from instance.web import bodies
from instance.web.context import CONTEXT, context
from instance.web.errors import ApiError
from instance.web.overrides import BABYSTEP_MM, FEED_PERCENT, FLOW_PERCENT
from instance.web.snapshot import printer_state
from instance.web.uploads import timelapse_choice

MAX_COMMAND = 96
MAX_TEMPERATURE = 400.0


async def get_printer(request: web.Request) -> web.Response:
    return web.json_response(printer_state(context(request)))


async def get_temperatures(request: web.Request) -> web.Response:
    ctx = context(request)
    default_since = time.time() - 3600
    raw = request.query.get("since")
    try:
        since = float(raw) if raw is not None else default_since
    except ValueError:
        raise ApiError(400, "query parameter 'since' must be a Unix time in seconds") from None
    if since != since:
        raise ApiError(400, "query parameter 'since' must be a Unix time in seconds")
    times, series = ctx.printer.temperatures.since(since)
    return web.json_response({"times": times, "series": series})


async def get_job(request: web.Request) -> web.Response:
    state = printer_state(context(request))
    return web.json_response({"state": state["state"], "job": state["job"]})


async def start_job(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await bodies.json_object(request)
    name = bodies.text(body, "file")
    assert name is not None
    timelapse = body.get("timelapse")
    if timelapse is not None and not isinstance(timelapse, bool):
        timelapse = timelapse_choice(str(timelapse))
    job_id = await ctx.start_print(name, ctx.access.requester(request), timelapse)
    return web.json_response({"job": job_id, "file": name}, status=201)


async def job_action(request: web.Request) -> web.Response:
    ctx = context(request)
    action = request.match_info["action"]
    printer = ctx.printer
    if action == "pause":
        await ctx.begin(printer.pause(), "pause")
    elif action == "resume":
        await ctx.begin(printer.resume(), "resume")
    elif action == "cancel":
        await ctx.begin(printer.cancel(), "cancel")
    else:
        raise ApiError(404, f"no job action {action!r}: pause, resume or cancel")
    return web.json_response({"state": printer.state.value}, status=202)


async def confirm_bed_clear(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.printer.confirm_bed_clear()
    return web.json_response({"state": ctx.printer.state.value, "bed_clear": True})


async def answer_prompt(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await bodies.json_object(request)
    choice = bodies.whole(body, "choice", high=255)
    ctx.printer.answer_prompt(choice)
    return web.json_response({"answered": choice})


async def send_terminal(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await bodies.json_object(request)
    command = bodies.text(body, "command")
    assert command is not None
    command = command.strip()
    if not command or "\n" in command or "\r" in command:
        raise ApiError(400, "'command' must be one G-code command on one line")
    if len(command) > MAX_COMMAND or not command.isascii():
        raise ApiError(400, f"'command' must be ASCII and at most {MAX_COMMAND} characters")
    ctx.printer.send_gcode(command)
    return web.json_response({"sent": command}, status=202)


async def get_terminal(request: web.Request) -> web.Response:
    ctx = context(request)
    limit = bodies.query_whole(request, "limit", 100, low=1, high=1000)
    lines = list(ctx.printer.terminal)[-limit:]
    return web.json_response(
        {
            "lines": [{"time": t, "direction": d, "text": text} for t, d, text in lines],
            "total": ctx.printer.terminal_count,
        }
    )


async def control(request: web.Request) -> web.Response:
    ctx = context(request)
    printer = ctx.printer
    action = request.match_info["action"]
    body: dict[str, Any] = await bodies.json_object(request, optional=True)
    if action == "home":
        axes = bodies.text(body, "axes", required=False) or "XYZ"
        if not axes or any(axis not in "XYZxyz" for axis in axes):
            raise ApiError(400, "'axes' must be letters among X, Y and Z")
        printer.home(axes)
    elif action == "jog":
        moves = {a: bodies.number(body, a, default=0.0, low=-1000, high=1000) for a in "xyz"}
        feed = bodies.number(body, "feed", default=3000.0, low=1, high=30000)
        if not any(moves.values()):
            raise ApiError(400, "a jog needs at least one of 'x', 'y', 'z' other than 0")
        printer.jog(moves["x"], moves["y"], moves["z"], feed)
    elif action == "extrude":
        length = bodies.number(body, "length", low=-500, high=500)
        feed = bodies.number(body, "feed", default=300.0, low=1, high=10000)
        printer.extrude(length, feed)
    elif action == "fan":
        printer.set_fan(bodies.number(body, "percent", low=0, high=100))
    elif action == "temperature":
        hotend = bodies.number(body, "hotend", low=0, high=MAX_TEMPERATURE)
        bed = body.get("bed")
        printer.preheat(
            hotend,
            None if bed is None else bodies.number(body, "bed", low=0, high=MAX_TEMPERATURE),
        )
    elif action == "cool-down":
        printer.cool_down()
    elif action == "motors-off":
        printer.motors_off()
    elif action == "emergency-stop":
        printer.emergency_stop()
    else:
        raise ApiError(404, f"no control action {action!r}")
    return web.json_response({"done": action}, status=202)


async def set_overrides(request: web.Request) -> web.Response:
    """Feed-rate (M220) and/or flow (M221) in percent; allowed while printing."""
    ctx = context(request)
    body = await bodies.json_object(request)
    unknown = sorted(set(body) - {"feed_percent", "flow_percent"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}: 'feed_percent' or 'flow_percent'")
    if not body:
        raise ApiError(400, "give 'feed_percent' (10 to 500) or 'flow_percent' (10 to 200)")
    feed = flow = None
    if "feed_percent" in body:
        feed = bodies.whole(body, "feed_percent", low=FEED_PERCENT[0], high=FEED_PERCENT[1])
    if "flow_percent" in body:
        flow = bodies.whole(body, "flow_percent", low=FLOW_PERCENT[0], high=FLOW_PERCENT[1])
    if feed is not None:
        ctx.overrides.set_feed(feed)
    if flow is not None:
        ctx.overrides.set_flow(flow)
    return web.json_response({"overrides": ctx.overrides.to_json()}, status=202)


async def babystep(request: web.Request) -> web.Response:
    """Move Z by a small amount now (M290), while printing too."""
    ctx = context(request)
    body = await bodies.json_object(request)
    z_mm = bodies.number(body, "z_mm", low=-BABYSTEP_MM, high=BABYSTEP_MM)
    if z_mm == 0:
        raise ApiError(400, f"'z_mm' must be between -{BABYSTEP_MM:g} and {BABYSTEP_MM:g}, not 0")
    ctx.overrides.babystep(z_mm)
    return web.json_response({"overrides": ctx.overrides.to_json()}, status=202)


def add_routes(app: web.Application) -> None:
    ctx = app[CONTEXT]
    ctx.overrides.watch(ctx.printer)
    router = app.router
    router.add_get("/api/v1/printer", get_printer)
    router.add_get("/api/v1/temperatures", get_temperatures)
    router.add_get("/api/v1/job", get_job)
    router.add_post("/api/v1/job", start_job)
    router.add_post("/api/v1/job/{action}", job_action)
    router.add_post("/api/v1/bed/clear", confirm_bed_clear)
    router.add_post("/api/v1/prompt", answer_prompt)
    router.add_get("/api/v1/terminal", get_terminal)
    router.add_post("/api/v1/terminal", send_terminal)
    router.add_post("/api/v1/control/{action}", control)
    router.add_post("/api/v1/printer/overrides", set_overrides)
    router.add_post("/api/v1/printer/babystep", babystep)
