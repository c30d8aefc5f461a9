"""The hub's hand-written OpenAPI document and its routes agree: every route of the app is
described, and every described path and method is a route of the app.

The app is built as ``fabfleet-hub`` builds it (an empty fleet, nothing started); its routes are
read from ``app.router`` with aiohttp's canonical paths, which use OpenAPI's ``{name}`` syntax.

Left out of the comparison, each for a stated reason:

- ``HEAD``: aiohttp adds it to every ``GET`` route by itself; it is not a route of ours.
- the pages: ``GET /``, ``GET /login`` and ``GET /maintenance`` (HTML) and the static files
  under ``/static``.
- ``GET /api/fleet/events``: the dashboard's WebSocket, which OpenAPI cannot describe
  (docs/hub.md describes its messages).
- ``/api/auth/check``, the gate: only nginx asks it (any method: its subrequest keeps the
  client's), and to anyone without the proxy's key it answers 404, as a path that does not
  exist (docs/hub.md, "The gate"). It is no part of the API a client may call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from hub.app import build_app
from hub.config import HubConfig
from hub.server import make_context
from hub.web.openapi import document

Route = tuple[str, str]  # (method in lower case, canonical path)

PAGES: set[Route] = {("get", "/"), ("get", "/login"), ("get", "/maintenance"), ("get", "/static")}
WEBSOCKETS: set[Route] = {("get", "/api/fleet/events")}
GATE: set[Route] = {("*", "/api/auth/check")}
# OpenAPI's keys of a path item that are not methods.
NOT_METHODS = {"parameters", "summary", "description", "servers"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[web.Application]:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"printers": [], "cameras": []}))
    config = HubConfig(
        data_dir=tmp_path / "data", fleet_file=fleet, gate_key_file=tmp_path / "gate.key"
    )
    ctx = make_context(config)
    try:
        yield build_app(ctx)
    finally:
        ctx.db.close()


def app_routes(app: web.Application) -> set[Route]:
    routes: set[Route] = set()
    for route in app.router.routes():
        if route.method != "HEAD":
            assert route.resource is not None
            routes.add((route.method.lower(), route.resource.canonical))
    return routes


def described_routes() -> set[Route]:
    return {
        (method, path)
        for path, item in document()["paths"].items()
        for method in item
        if method not in NOT_METHODS
    }


def test_every_route_is_described_and_every_described_route_exists(app: web.Application) -> None:
    routes = app_routes(app)
    described = described_routes()
    left_out = PAGES | WEBSOCKETS | GATE
    # What is left out is there (a stale exclusion would hide nothing, silently).
    assert left_out <= routes, left_out - routes
    assert routes - left_out - described == set(), "routes the document does not describe"
    assert described - routes == set(), "described routes the app does not have"
    assert described & left_out == set(), "routes both described and left out"


def test_the_comparison_sees_a_described_route_the_app_lacks(app: web.Application) -> None:
    """A route the document names but the app lacks is found (the check above can fail)."""
    routes = app_routes(app)
    routes.discard(("post", "/api/queue"))
    assert ("post", "/api/queue") in described_routes() - routes
