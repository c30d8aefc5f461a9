"""Receiving a multipart upload (native and OctoPrint's shape): streamed, checked, stored."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from instance.files.names import safe_name
from instance.files.store import PendingUpload
from instance.timelapse.settings import parse_choice
from instance.web.bodies import form_flag
from instance.web.context import ServerContext
from instance.web.errors import ApiError

CHUNK = 256 * 1024
# Multipart boundaries and the small fields around the file.
MULTIPART_SLACK = 64 * 1024
MAX_FIELD_BYTES = 4096
FLAG_FIELDS = ("print", "select", "overwrite")
TEXT_FIELDS = ("path", "userdata", "foldername", "timelapse", *FLAG_FIELDS)


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    name: str
    print_requested: bool
    select_requested: bool
    # The job's timelapse choice (form field ``timelapse=on|off``); None: the printer's default.
    timelapse: bool | None = None


async def receive_upload(request: web.Request, ctx: ServerContext) -> ReceivedUpload:
    """Stream the ``file`` part to disk and store it; the other parts say what to do next."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415, "expected a multipart/form-data upload with the G-code in a part named 'file'"
        )
    store = ctx.store
    length = request.content_length
    if length is not None and length > store.max_bytes + MULTIPART_SLACK:
        ctx.counters.uploads_refused += 1
        raise ApiError(
            413, f"the file is larger than the limit of {store.max_bytes // 1024 // 1024} MB"
        )
    pending: PendingUpload | None = None
    file_name = ""
    fields: dict[str, str] = {}
    try:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError) as error:
            raise ApiError(400, f"malformed multipart body: {error}") from None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "nested multipart parts are not accepted")
            if part.name == "file":
                if pending is not None:
                    raise ApiError(400, "one file per upload")
                file_name = safe_name(part.filename or "")
                pending = store.begin_upload(length)
                while chunk := await part.read_chunk(CHUNK):
                    await pending.write(chunk)
                await pending.finish()
            elif part.name in TEXT_FIELDS:
                fields[part.name] = await _field(part)
            else:
                await part.release()
        if pending is None:
            raise ApiError(400, "the upload has no part named 'file'")
        flags = {name: form_flag(name, fields.get(name, "false")) for name in FLAG_FIELDS}
        timelapse = timelapse_choice(fields.get("timelapse"))
        folder = fields.get("path", "").strip().strip("/")
        if ".." in folder.split("/"):
            raise ApiError(400, f"path {folder!r} leaves the files directory")
        stored = store.store(pending, file_name, overwrite=flags["overwrite"], in_use=ctx.printing)
        pending = None
    except BaseException:
        ctx.counters.uploads_refused += 1
        if pending is not None:
            pending.discard()
        raise
    ctx.counters.uploads += 1
    with contextlib.suppress(OSError):
        ctx.counters.upload_bytes += store.stat(stored).size
    ctx.analyser.submit(stored)
    return ReceivedUpload(stored, flags["print"], flags["select"] or flags["print"], timelapse)


def timelapse_choice(text: str | None) -> bool | None:
    """A job's ``timelapse`` choice: on, off, or None (unset or empty: the default)."""
    if text is None or not text.strip():
        return None
    try:
        return parse_choice(text)
    except ValueError as error:
        raise ApiError(400, str(error)) from None


async def _field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise ApiError(400, f"form field {part.name!r} is too long")
    return data.decode("utf-8", "replace")
