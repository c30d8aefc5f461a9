"""Behind the proxy (/printers/<name>/, prefix stripped): every URL the server makes is right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import requests

from tests.web.server import KEY, Served, running_server

pytestmark = pytest.mark.timeout(120)

PROXY = {"X-Forwarded-Prefix": "/printers/mk3", "X-Forwarded-Host": "farm.example",
         "X-Forwarded-Proto": "https"}  # fmt: skip


def test_links_redirects_and_the_stream_url_carry_the_forwarded_prefix(shared_server: Served):
    server = shared_server
    upload = server.post("/api/files/local", files={"file": ("p.gcode", b"G28\n")}, headers=PROXY)
    assert upload.status_code == 201
    assert upload.headers["Location"] == "https://farm.example/printers/mk3/api/files/local/p.gcode"
    refs = upload.json()["files"]["local"]["refs"]
    assert refs["download"] == "https://farm.example/printers/mk3/downloads/files/local/p.gcode"
    native = server.get("/api/v1/files/p.gcode", headers=PROXY).json()
    assert native["links"]["content"] == "/printers/mk3/api/v1/files/p.gcode/content"
    redirect = server.get("/api/v1", headers=PROXY, allow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "/printers/mk3/api/v1/openapi.json"
    spec = server.get("/api/v1/openapi.json", headers=PROXY).json()
    assert spec["servers"] == [{"url": "https://farm.example/printers/mk3"}]
    # Without the proxy's headers the same server hands out its own URLs.
    plain = server.get("/api/files/local/p.gcode").json()
    assert plain["refs"]["resource"] == f"{server.url}/api/files/local/p.gcode"
    server.delete("/api/files/local/p.gcode")


def test_a_prefix_that_is_not_a_plain_path_is_ignored(shared_server: Served):
    server = shared_server
    for bad in ("/a/../../evil", "javascript:alert(1)", "//evil.example", "/a b"):
        spec = server.get("/api/v1/openapi.json", headers={"X-Forwarded-Prefix": bad}).json()
        assert spec["servers"] == [{"url": server.url}], bad
        redirect = server.get("/api/v1", headers={"X-Forwarded-Prefix": bad}, allow_redirects=False)
        assert redirect.headers["Location"] == "/api/v1/openapi.json", bad


def test_base_path_option_and_a_stream_through_a_prefix_stripping_client(tmp_path: Path):
    with running_server(tmp_path, "--base-path", "/printers/left/") as server:
        spec = server.get("/api/v1/openapi.json").json()
        assert spec["servers"] == [{"url": server.url + "/printers/left"}]
        location = server.upload("b.gcode", b"G28\n").headers["Location"]
        assert location == server.url + "/printers/left/api/files/local/b.gcode"
        redirect = server.get("/api/v1", allow_redirects=False)
        assert redirect.headers["Location"] == "/printers/left/api/v1/openapi.json"
        # The proxy's header wins over the option: the hub may mount it elsewhere.
        other = server.get("/api/v1/files/b.gcode", headers={"X-Forwarded-Prefix": "/x"}).json()
        assert other["links"]["self"] == "/x/api/v1/files/b.gcode"

        async def stream() -> str:
            url = server.url.replace("http", "ws") + "/api/v1/events"
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(url, params={"apikey": KEY}) as socket,
            ):
                message = await asyncio.wait_for(socket.receive_json(), 10)
                return str(message["state"])

        assert asyncio.run(stream()) == "ready"
        assert requests.get(server.url + "/api/health", timeout=5).status_code == 200
