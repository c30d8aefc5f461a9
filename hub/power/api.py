"""The power API: ``GET /api/power`` (every device the user may see, its state and the
off-guard's sentence), ``POST /api/printers/{name}/power`` and ``POST /api/cameras/{name}/power``
with ``{"on": true|false}``.

Rights: a printer's power is switched by whoever may act on it (admin, or an operator it is
granted to); a camera's by an admin or an operator who may act on a printer the camera
shows. Switching a printer off is refused (409, the guard's sentence) while it is printing,
paused, heating or hot, while its reading is stale or its print server silent, and while the
device's state is unknown. Every switch and every refusal is audited ("power on"/"power off").
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth.current import current_user
from hub.auth.rights import User, may_act, may_view, may_view_camera
from hub.bodies import read_object
from hub.context import context
from hub.errors import ApiError
from hub.fleet.roster import Fleet
from hub.power.service import POWER, Device, PowerService
from hub.power.state import PowerState
from hub.records import audit


def _service(request: web.Request) -> PowerService:
    return request.app[POWER]


def _entry(service: PowerService, device: Device, allowed: bool) -> dict[str, Any]:
    state = device.current
    return {
        "name": device.key[1],
        "kind": device.key[0],
        "type": device.spec.type,
        "state": state.word,
        "on": state.on,
        "known": state.known,
        "reason": state.reason,
        "checked_at": state.checked_at,
        "auto_off": device.spec.auto_off if device.key[0] == "printer" else False,
        "guard": service.sentence(device),
        "may_act": allowed,
    }


def may_act_camera(user: User, camera: str, fleet: Fleet) -> bool:
    return user.admin or any(p.camera == camera and may_act(user, p) for p in fleet.printers)


async def list_power(request: web.Request) -> web.Response:
    user = current_user(request)
    fleet = context(request).fleet
    service = _service(request)
    service.sync()
    printers, cameras = [], []
    for printer in fleet.printers:
        device = service.device("printer", printer.name)
        if device is not None and may_view(user, printer):
            printers.append(_entry(service, device, may_act(user, printer)))
    for camera in fleet.cameras:
        device = service.device("camera", camera.name)
        if device is not None and may_view_camera(user, camera.name, fleet.printers):
            cameras.append(_entry(service, device, may_act_camera(user, camera.name, fleet)))
    return web.json_response({"printers": printers, "cameras": cameras})


def _device(service: PowerService, kind: str, name: str) -> Device:
    service.sync()
    device = service.device(kind, name)
    if device is None:
        raise ApiError(404, f"{kind} {name} has no power device in the fleet file")
    return device


async def _wanted(request: web.Request) -> bool:
    body = await read_object(request)
    on = body.get("on")
    if not isinstance(on, bool):
        raise ApiError(400, "'on' is required: true to switch on, false to switch off")
    return on


def _answer(device: Device, service: PowerService, state: PowerState, on: bool) -> web.Response:
    if state.on is not on:
        word = "on" if on else "off"
        raise ApiError(502, f"{device.key[1]}'s power device did not switch {word}: {state.reason}")
    return web.json_response(_entry(service, device, True))


async def switch_printer(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    name = request.match_info["name"]
    printer = ctx.fleet.printer(name)
    if printer is None or not may_view(user, printer):
        raise ApiError(404, f"no printer '{name[:100]}' in the fleet")
    on = await _wanted(request)
    action = "power on" if on else "power off"
    if not may_act(user, printer):
        audit.record(ctx.db, user.name, f"refused {action}", name, "not granted")
        raise ApiError(403, f"{user.name} ({user.role}) may watch {name} but not act on it")
    service = _service(request)
    device = _device(service, "printer", name)
    if not on:
        decision = await service.check_off(device)
        if not decision.allow:
            audit.record(ctx.db, user.name, f"refused {action}", name, decision.sentence)
            raise ApiError(409, f"{name} stays on: {decision.sentence}")
    state = await service.switch(device, on)
    audit.record(ctx.db, user.name, action, name, state.reason)
    return _answer(device, service, state, on)


async def switch_camera(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    name = request.match_info["name"]
    fleet = ctx.fleet
    if fleet.camera(name) is None or not may_view_camera(user, name, fleet.printers):
        raise ApiError(404, f"no camera '{name[:100]}' in the fleet")
    on = await _wanted(request)
    action = "power on" if on else "power off"
    if not may_act_camera(user, name, fleet):
        audit.record(ctx.db, user.name, f"refused {action}", None, f"camera {name}: not granted")
        raise ApiError(403, f"{user.name} ({user.role}) may not switch camera {name}")
    service = _service(request)
    device = _device(service, "camera", name)
    state = await service.switch(device, on)
    audit.record(ctx.db, user.name, action, None, f"camera {name}: {state.reason}")
    return _answer(device, service, state, on)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/power", list_power)
    app.router.add_post("/api/printers/{name}/power", switch_printer)
    app.router.add_post("/api/cameras/{name}/power", switch_camera)
