"""Files in the native API: list, upload, details with analysis, download, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from instance.files.store import StoredFile
from instance.web import links
from instance.web.context import ServerContext, context
from instance.web.errors import ApiError, error_response, held_of
from instance.web.uploads import receive_upload


def file_json(request: web.Request, ctx: ServerContext, stored: StoredFile) -> dict[str, Any]:
    base = ctx.config.base_path
    resource = f"/api/v1/files/{links.quoted(stored.name)}"
    return {
        "name": stored.name,
        "size": stored.size,
        "modified": stored.modified,
        "printing": ctx.printing(stored.name),
        "analysis": ctx.analysis(stored).to_json(),
        "links": {
            "self": links.path(request, base, resource),
            "content": links.path(request, base, resource + "/content"),
        },
    }


async def list_files(request: web.Request) -> web.Response:
    ctx = context(request)
    free, total = ctx.store.disk()
    return web.json_response(
        {
            "files": [file_json(request, ctx, stored) for stored in ctx.store.list()],
            "free_bytes": free,
            "total_bytes": total,
            "max_upload_bytes": ctx.store.max_bytes,
        }
    )


async def upload_file(request: web.Request) -> web.Response:
    ctx = context(request)
    received = await receive_upload(request, ctx)
    stored = ctx.store.stat(received.name)
    body: dict[str, Any] = {"file": file_json(request, ctx, stored), "job": None}
    location = links.absolute(
        request, ctx.config.base_path, f"/api/v1/files/{links.quoted(stored.name)}"
    )
    if received.select_requested:
        ctx.selected = stored.name
    if received.print_requested:
        try:
            body["job"] = await ctx.start_print(
                stored.name, ctx.access.requester(request), received.timelapse
            )
        except Exception as error:
            # The file is kept: only the print was refused.
            return error_response(
                409, f"stored as {stored.name}, not printed: {error}", file=body["file"],
                **held_of(error),
            )  # fmt: skip
    return web.json_response(body, status=201, headers={"Location": location})


async def get_file(request: web.Request) -> web.Response:
    ctx = context(request)
    stored = ctx.store.stat(request.match_info["name"])
    return web.json_response(file_json(request, ctx, stored))


async def get_analysis(request: web.Request) -> web.Response:
    ctx = context(request)
    stored = ctx.store.stat(request.match_info["name"])
    return web.json_response(ctx.analysis(stored).to_json())


async def get_thumbnail(request: web.Request) -> web.FileResponse:
    ctx = context(request)
    stored = ctx.store.stat(request.match_info["name"])
    raw = request.match_info["index"]
    path = ctx.analyser.thumbnail(stored, int(raw)) if raw.isdigit() and len(raw) < 4 else None
    if path is None:
        raise ApiError(404, f"{stored.name} has no thumbnail {raw}")
    kind = "image/jpeg" if path.suffix == ".jpg" else "image/png"
    return web.FileResponse(path, headers={"Content-Type": kind})


async def download_file(request: web.Request) -> web.FileResponse:
    ctx = context(request)
    name = request.match_info["name"]
    path = ctx.store.path(name)
    disposition = f"attachment; filename*=UTF-8''{links.quoted(name)}"
    return web.FileResponse(
        path, headers={"Content-Type": "text/x-gcode", "Content-Disposition": disposition}
    )


async def delete_file(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["name"]
    ctx.store.delete(name, in_use=ctx.printing)
    ctx.analyser.forget(name)
    if ctx.toolpaths is not None:
        ctx.toolpaths.forget(name)
    if ctx.selected == name:
        ctx.selected = None
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/files", list_files)
    app.router.add_post("/api/v1/files", upload_file)
    app.router.add_get("/api/v1/files/{name}", get_file)
    app.router.add_delete("/api/v1/files/{name}", delete_file)
    app.router.add_get("/api/v1/files/{name}/analysis", get_analysis)
    app.router.add_get("/api/v1/files/{name}/content", download_file)
    app.router.add_get("/api/v1/files/{name}/thumbnails/{index}", get_thumbnail)
