"""The live event stream: state on connect, then every change, and log lines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import requests

from tests.web.server import KEY, Served, gcode_head

pytestmark = pytest.mark.timeout(120)


async def next_message(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(socket.receive(), 10)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        if data["type"] == kind:
            return data


async def state_where(socket: aiohttp.ClientWebSocketResponse, **wanted: Any) -> dict[str, Any]:
    while True:
        data = await next_message(socket, "state")
        if all(data.get(k) == v for k, v in wanted.items()):
            return data


def test_a_page_gets_the_state_at_once_then_each_change(server: Served):
    # How soon a change reaches the page (the 250 ms target) is measured by
    # bench/page_latency.py and bench/page_update.py; this test is about what arrives.
    content = gcode_head("cube_slic3r.gcode", 3000)
    assert server.upload("stream.gcode", content).status_code == 201

    async def scenario() -> None:
        url = server.url.replace("http", "ws") + "/api/v1/events"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers={"X-Api-Key": KEY}) as socket,
        ):
            first = await next_message(socket, "state")
            assert first["state"] == "ready"
            assert first["heaters"]["T0"]["actual"] is not None
            loop = asyncio.get_running_loop()

            def post(path: str, body: dict[str, str] | None) -> requests.Response:
                return server.post(path, json=body)

            for request, wanted in [
                (("/api/v1/job", {"file": "stream.gcode"}), "printing"),
                (("/api/v1/job/pause", None), "paused"),
                (("/api/v1/job/resume", None), "printing"),
                (("/api/v1/job/cancel", None), "bed not cleared"),
                (("/api/v1/bed/clear", None), "ready"),
            ]:
                path, body = request
                answer = await loop.run_in_executor(None, post, path, body)
                assert answer.status_code in (201, 202, 200), answer.text
                # The stream pushes the change: nothing is asked for but the socket.
                data = await state_where(socket, state=wanted)
                if wanted == "printing":
                    progress = await next_message(socket, "state")
                    assert progress["job"]["file"] == "stream.gcode"
                    assert progress["job"]["lines_total"] > 0
                assert data["state"] == wanted

    asyncio.run(scenario())


async def log_line(socket: aiohttp.ClientWebSocketResponse, text: str) -> None:
    """Wait for a ``log`` message holding ``text``."""
    while True:
        log = await next_message(socket, "log")
        if any(text in line[2] for line in log["lines"]):
            return


def test_temperature_and_log_lines_stream_and_log_can_be_turned_off(shared_server: Served):
    server = shared_server

    async def scenario() -> None:
        base = server.url.replace("http", "ws") + "/api/v1/events"
        async with (
            aiohttp.ClientSession(headers={"X-Api-Key": KEY}) as session,
            session.ws_connect(base) as socket,
            session.ws_connect(base + "?log=0") as quiet,
        ):
            await next_message(socket, "state")
            await next_message(quiet, "state")
            server.post("/api/v1/terminal", json={"command": "M117 hello stream"})
            await log_line(socket, "M117 hello stream")
            # Temperatures move: the bed is told to heat and the stream shows it.
            server.post("/api/v1/control/temperature", json={"hotend": 0, "bed": 40})
            data = await state_where(socket)
            while data["heaters"]["B"]["target"] != 40:
                data = await next_message(socket, "state")
            server.post("/api/v1/control/cool-down")
            server.post("/api/v1/terminal", json={"command": "M117 not shown"})
            await log_line(socket, "M117 not shown")
            # The line is in the terminal now. Each round of a stream sends the state,
            # then the log lines since the last round: once the quiet stream has shown
            # two later changes, a round has passed in which it would have sent them.
            for target in (45, 46):
                server.post("/api/v1/control/temperature", json={"hotend": 0, "bed": target})
                while True:
                    message = await asyncio.wait_for(quiet.receive(), 30)
                    assert message.type is aiohttp.WSMsgType.TEXT, message
                    shown = json.loads(message.data)
                    assert shown["type"] != "log", shown
                    if shown["type"] == "state" and shown["heaters"]["B"]["target"] == target:
                        break
            server.post("/api/v1/control/cool-down")

    asyncio.run(scenario())


def test_the_events_endpoint_needs_a_websocket(shared_server: Served):
    answer = shared_server.get("/api/v1/events")
    assert answer.status_code == 400
    assert answer.json() == {"error": "this is a WebSocket endpoint: connect with a WebSocket"}
