"""The hand-written OpenAPI document and the print server's routes agree: every route of the
app is described, and every described path and method is a route of the app.

The app is built as ``fabfleet-instance serve`` builds it (nothing is started); its routes are
read from ``app.router`` with aiohttp's canonical paths, which use OpenAPI's ``{name}`` syntax.

Left out of the comparison, each for a stated reason:

- ``HEAD``: aiohttp adds it to every ``GET`` route by itself; it is not a route of ours.
- the printer's page: ``GET /`` and the static files under ``/page`` (HTML, scripts, styles).
- ``GET /api/v1/events``: a WebSocket, which OpenAPI cannot describe; the document's own
  description names it, and docs/web-api.md describes its messages.
- the OctoPrint-compatible routes (every handler of ``instance.web.octoprint_api`` and of
  ``instance.web.appkeys_api``, OctoPrint's application keys workflow): they follow
  OctoPrint's published API, which is their contract, for slicers and OctoPrint clients;
  the document's description points to them. tests/web/test_octoprint_api.py and
  tests/web/test_appkeys.py cover them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from instance.files.analyses import Analyser
from instance.files.store import FileStore
from instance.printer import Printer
from instance.web.app import build_app
from instance.web.auth import access_check
from instance.web.config import ServeConfig
from instance.web.context import ServerContext
from instance.web.openapi import description
from instance.web.server import printer_settings

Route = tuple[str, str]  # (method in lower case, canonical path)

PAGE: set[Route] = {("get", "/"), ("get", "/page")}
WEBSOCKETS: set[Route] = {("get", "/api/v1/events")}
OCTOPRINT_MODULES = {"instance.web.octoprint_api", "instance.web.appkeys_api"}
# OpenAPI's keys of a path item that are not methods.
NOT_METHODS = {"parameters", "summary", "description", "servers"}


@pytest.fixture
def app(tmp_path: Path) -> web.Application:
    config = ServeConfig(port=str(tmp_path / "no-printer"), data_dir=tmp_path / "data")
    store = FileStore(config.data_dir / "files", max_bytes=1024**2)
    ctx = ServerContext(
        config=config,
        printer=Printer(printer_settings(config)),
        store=store,
        analyser=Analyser(store),
        access=access_check(config.api_key, config.api_user, config.gate_key, config.printer),
    )
    return build_app(ctx)


def app_routes(app: web.Application) -> tuple[set[Route], set[Route]]:
    """The app's routes, less HEAD: (those of OctoPrint's API, all the others)."""
    octoprint: set[Route] = set()
    others: set[Route] = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        assert route.resource is not None
        found = (route.method.lower(), route.resource.canonical)
        module = getattr(route.handler, "__module__", "")
        (octoprint if module in OCTOPRINT_MODULES else others).add(found)
    return octoprint, others


def described_routes() -> set[Route]:
    paths = description("http://printer.invalid")["paths"]
    return {
        (method, path)
        for path, item in paths.items()
        for method in item
        if method not in NOT_METHODS
    }


def test_every_route_is_described_and_every_described_route_exists(app: web.Application) -> None:
    octoprint, others = app_routes(app)
    described = described_routes()
    left_out = PAGE | WEBSOCKETS
    # What is left out is there (a stale exclusion would hide nothing, silently).
    assert left_out <= others, left_out - others
    assert octoprint, "no OctoPrint-compatible route found: is the module's name still right?"
    assert others - left_out - described == set(), "routes the document does not describe"
    assert described - others == set(), "described routes the app does not have"
    assert described & (octoprint | left_out) == set(), "routes both described and left out"


def test_the_comparison_sees_a_route_missing_from_the_document(app: web.Application) -> None:
    """A route added without a description is found (the check above can fail)."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/v1/undocumented", handler)
    _, others = app_routes(app)
    assert ("post", "/api/v1/undocumented") in others - described_routes()
