"""``GET /api/v1/files/{name}/toolpath``: a stored file's layer-by-layer preview, packed.

The body is the binary format of docs/printer-page.md ("Toolpath preview"),
``application/octet-stream``, gzipped when the browser accepts it. It is
revalidated on every use (``Cache-Control: no-cache``) against an ``ETag``
naming the file's size and modification time, so a page that has it gets
``304 Not Modified`` and a replaced file gets its new preview.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from aiohttp import web

from instance.analysis.toolpath import LayerIndex
from instance.files.store import UnknownFile
from instance.files.toolpaths import Preview, PreviewUnavailable, Toolpaths, etag_of
from instance.web.context import CONTEXT, ServerContext, context
from instance.web.errors import ApiError

CONTENT_TYPE = "application/octet-stream"


def _accepts_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


async def _body(preview: Preview, gzipped: bool) -> bytes:
    # Read off the event loop: a preview can be a megabyte or two.
    data = await asyncio.to_thread(preview.gzipped.read_bytes)
    return data if gzipped else await asyncio.to_thread(gzip.decompress, data)


async def get_toolpath(request: web.Request) -> web.Response:
    ctx = context(request)
    stored = ctx.store.stat(request.match_info["name"])  # UnknownFile: 404
    headers = {"Cache-Control": "no-cache", "ETag": etag_of(stored), "Vary": "Accept-Encoding"}
    if etag_of(stored) in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    try:
        assert ctx.toolpaths is not None  # set by add_routes
        preview = await ctx.toolpaths.preview(stored)
    except PreviewUnavailable as error:
        raise ApiError(422, f"{stored.name} cannot be previewed: {error}") from error
    gzipped = _accepts_gzip(request)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = await _body(preview, gzipped)
    headers["X-Toolpath-Layers"] = str(len(preview.index.offsets))
    return web.Response(body=body, content_type=CONTENT_TYPE, headers=headers)


def running_layers(ctx: ServerContext) -> LayerIndex | None:
    """The layer index of the file being printed, if it is a stored file with a built preview."""
    current = ctx.printer.job
    if current is None or ctx.toolpaths is None:
        return None
    path = Path(current.file.path)
    if path.parent != ctx.store.directory:
        return None
    try:
        stored = ctx.store.stat(path.name)
    except (UnknownFile, OSError):
        return None
    return ctx.toolpaths.index(stored)


def add_routes(app: web.Application) -> None:
    ctx = app[CONTEXT]
    toolpaths = ctx.toolpaths = Toolpaths(ctx.store)
    toolpaths.remove_orphans()
    # Each file analysed (after an upload or a start) gets its preview built next.
    analysed = ctx.analyser.on_done

    def analysed_then_preview(name: str) -> None:
        if analysed is not None:
            analysed(name)
        toolpaths.prepare(name)

    ctx.analyser.on_done = analysed_then_preview
    app.router.add_get("/api/v1/files/{name}/toolpath", get_toolpath)
