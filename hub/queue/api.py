"""The fleet queue's HTTP API: submit, list, reorder, cancel, requeue (docs/hub.md).

``POST /api/queue`` streams the file to ``<data_dir>/queue/`` (never whole in
memory), checks it is G-code, scans it (``hub.queue.gcode_scan``) and refuses a job
that no printer of its target could ever print (422, with every reason). A
printer that is merely busy or offline does not matter: the job waits.

Who may do what: submitting, reordering, cancelling and requeueing need the
right to act on every printer of the entry's target (an admin, or an operator
granted them); an entry is listed to whoever may watch one printer of its
target, to its submitter, and to admins.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import BodyPartReader, web

from hub.auth.current import current_user
from hub.auth.rights import User, may_act, may_view
from hub.bodies import read_object
from hub.context import HubContext, context
from hub.db import disk_full
from hub.dispatch.check import JobSide
from hub.dispatch.sources import sources
from hub.errors import ApiError, error_response
from hub.fleet.live import BUSY
from hub.fleet.roster import Fleet
from hub.queue import dispatcher
from hub.queue import store as queue_store
from hub.queue.gcode_scan import GcodeFacts, facts_from_json
from hub.queue.match import Needs, Target, TargetError, misfits, parse_tags, why_nowhere
from hub.queue.reasons import Floor, job_reasons, printer_reasons
from hub.queue.store import Job
from hub.records import audit

SCHEMA = queue_store.SCHEMA
log = logging.getLogger(__name__)

MB = 1024**2
MAX_FILE = 2 * 1024**3
# Free disk a queued file must leave for the hub's database (sessions, audit, history).
DISK_MARGIN = 16 * MB
MAX_COPIES = 100
MAX_PRIORITY = 1000
MAX_FIELD = 4096
CHUNK = 1024 * 1024
# A G-code command or a comment on one of the first lines.
GCODE_START = re.compile(rb"^[ \t]*(?:;|[GMTgmt]\d|N\d+[ \t]+[GMgm]\d)", re.MULTILINE)
NAME_BYTES = 200


# --- rights ------------------------------------------------------------------


def may_act_on_target(user: User, target: Target, fleet: Fleet) -> bool:
    printers = target.printers(fleet)
    return bool(printers) and all(may_act(user, p) for p in printers)


def may_see(user: User, job: Job, fleet: Fleet) -> bool:
    """Admins and the submitter see an entry; anyone else only when they may watch the
    printer it was sent to, or (not sent yet) a printer of its target that fits it."""
    if user.admin or job.submitted_by == user.name:
        return True
    if job.printer is not None:
        sent_to = fleet.printer(job.printer)
        return sent_to is not None and may_view(user, sent_to)
    try:
        printers = Target.parse(job.target).printers(fleet)
    except TargetError:
        return False
    needs = dispatcher.needs_of(job)
    fitting = [p for p in printers if not misfits(needs, p)] or printers
    return any(may_view(user, p) for p in fitting)


def may_change(user: User, job: Job, fleet: Fleet) -> bool:
    try:
        target = Target.parse(job.target)
    except TargetError:
        return user.admin
    return user.admin or may_act_on_target(user, target, fleet)


# --- reading the upload --------------------------------------------------------


def file_name(raw: str | None) -> str:
    """The last path component, NFC, without control characters, at most 200 bytes."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    if not name:
        return "upload.gcode"
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    while len(name.encode("utf-8")) > NAME_BYTES:
        stem = stem[:-1]
        name = f"{stem}.{suffix}" if suffix else stem
    return name


async def _small_field(part: BodyPartReader, name: str) -> str:
    data = b""
    while chunk := await part.read_chunk(MAX_FIELD):
        data += chunk
        if len(data) > MAX_FIELD:
            raise ApiError(400, f"'{name}' is too long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"'{name}' is not UTF-8 text") from None


def _create_private(path: Path) -> BinaryIO:
    """A new file only the hub's user may read (people's parts are theirs)."""
    return os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb")


def _write_all(out: BinaryIO, data: bytes) -> None:
    out.write(data)


def _finish(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()


class _TextCheck:
    """G-code is text: no NUL byte, and at most 0.1 % of bytes that are not UTF-8 (a stray
    Latin-1 degree sign in a comment passes; print servers refuse more, so the hub does)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.size = 0
        self.bad = 0

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if b"\0" in chunk:
            raise ApiError(415, "not a G-code file: it holds binary data (NUL bytes)")
        self.size += len(chunk)
        self.bad += self.decoder.decode(chunk, final).count("\ufffd")
        if self.bad > max(8, self.size // 1000):
            raise ApiError(415, "not a G-code file: it is not text (too many bytes not UTF-8)")


async def _receive_file(part: BodyPartReader, path: Path) -> int:
    """Stream one part to ``path``; its size. 415 for what is not G-code text."""
    check = _TextCheck()
    head = b""
    out = await asyncio.to_thread(_create_private, path)
    try:
        buffer = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            if check.size + len(chunk) > MAX_FILE:
                raise ApiError(413, f"the file is larger than {MAX_FILE // 1024**3} GB")
            check.feed(chunk)
            if len(head) < 1024:
                head += chunk[: 1024 - len(head)]
            buffer += chunk
            if len(buffer) >= CHUNK:
                await asyncio.to_thread(_write_all, out, bytes(buffer))
                buffer.clear()
        check.feed(b"", final=True)
        if buffer:
            await asyncio.to_thread(_write_all, out, bytes(buffer))
        await asyncio.to_thread(_finish, out)
    finally:
        out.close()
    if check.size == 0:
        raise ApiError(400, "the file is empty")
    if GCODE_START.search(head) is None:
        raise ApiError(415, "not a G-code file: no G-code command or comment at its start")
    return check.size


def _int_field(fields: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"'{name}' must be a whole number, not '{text[:40]}'") from None
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}")
    return value


async def scan_in_worker(path: Path) -> GcodeFacts:
    """``hub.queue.gcode_scan`` in a separate, niced process: the hub's loop never waits on it."""
    worker = await asyncio.create_subprocess_exec(
        "nice", "-n", "10", sys.executable, "-m", "hub.queue.gcode_scan", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await worker.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            worker.kill()
        await worker.wait()
        raise
    if worker.returncode != 0:
        log.error("scanning %s failed: %s", path, err.decode("utf-8", "replace")[-2000:])
        raise ApiError(500, "the hub could not read the G-code file; its log has the details")
    return facts_from_json(json.loads(out))


# --- handlers ----------------------------------------------------------------


def _wake(request: web.Request) -> None:
    found = request.app.get(dispatcher.DISPATCHER)
    if found is not None:
        found.poke()


async def submit(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    if user.role == "viewer":
        raise ApiError(403, f"{user.name} is a viewer and may not queue jobs")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "send multipart/form-data with a 'file' field")
    if (request.content_length or 0) > MAX_FILE + 1024**2:
        raise ApiError(413, f"the file is larger than {MAX_FILE // 1024**3} GB")
    incoming = queue_store.incoming_path(ctx.config.data_dir)
    free = shutil.disk_usage(incoming.parent).free
    if (request.content_length or 0) + DISK_MARGIN > free:
        raise ApiError(
            507,
            f"the hub's disk has {free // MB} MB free: not enough for this file and the"
            f" {DISK_MARGIN // MB} MB kept for its database. Free space on the hub's volume"
            " and queue it again",
        )
    try:
        return await _submit(request, user, incoming)
    except (OSError, sqlite3.OperationalError) as error:
        if disk_full(error):
            raise ApiError(
                507,
                "the hub's disk filled up while the file was being stored; nothing was kept."
                " Free space on the hub's volume and queue it again",
            ) from None
        raise
    finally:
        incoming.unlink(missing_ok=True)


async def _submit(request: web.Request, user: User, incoming: Path) -> web.Response:
    ctx = context(request)
    fields: dict[str, str] = {}
    name: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "nested multipart bodies are not accepted")
            if part.name == "file":
                if name is not None:
                    raise ApiError(400, "send one file per request")
                name = file_name(part.filename)
                await _receive_file(part, incoming)
            elif part.name in ("copies", "target", "priority", "tags"):
                fields[part.name] = await _small_field(part, part.name)
            else:
                await part.release()
    except ValueError as error:  # aiohttp's malformed multipart
        raise ApiError(400, f"malformed multipart body: {error}") from None
    if name is None:
        raise ApiError(400, "'file' is required (the G-code file)")
    copies = _int_field(fields, "copies", 1, 1, MAX_COPIES)
    priority = _int_field(fields, "priority", 0, -MAX_PRIORITY, MAX_PRIORITY)
    tags = parse_tags(fields.get("tags", ""))
    if any(len(tag) > 64 for tag in tags) or len(tags) > 32:
        raise ApiError(400, "'tags': at most 32 tags of at most 64 characters")
    try:
        target = Target.parse(fields.get("target", "fleet"))
    except TargetError as error:
        raise ApiError(400, str(error)) from None
    fleet = ctx.fleet
    printers = target.printers(fleet)
    if not printers:
        if target.kind == "fleet":
            raise ApiError(422, "the fleet has no printers")
        raise ApiError(404, f"no {target.kind} named '{target.name}' in the fleet")
    if not may_act_on_target(user, target, fleet):
        raise ApiError(403, f"{user.name} may not print on {target}")
    facts = await scan_in_worker(incoming)
    needs = Needs(target, tags, facts.material, facts.nozzle, facts.box)
    reasons = why_nowhere(needs, printers)
    if reasons:
        return error_response(422, f"no printer of {target} can print it", reasons=reasons)
    stored = queue_store.add_file(ctx.db, ctx.config.data_dir, name, incoming, facts)
    jobs = queue_store.add_jobs(ctx.db, stored, copies, str(target), tags, priority, user.name)
    audit.record(ctx.db, user.name, "queue submit",
                 target.name if target.kind == "printer" else None,
                 f"{name} x{copies} to {target}, priority {priority}")  # fmt: skip
    _wake(request)
    return web.json_response({"entries": [job.to_json() for job in jobs]}, status=201)


def bed_waiting(ctx: HubContext, job: Job) -> bool:
    """This entry's print is the last on its printer, which waits for its bed to be cleared."""
    if job.state != "done" or job.printer is None:
        return False
    live = ctx.live.printers.get(job.printer)
    if live is None or not live.online or live.status.get("bed_clear", True):
        return False
    if live.state in BUSY:
        return False  # the next job prints: its bed is taken, not waiting
    last = live.status.get("last_job") or {}
    return bool(last.get("id") == job.printer_job)


def floor_now(request: web.Request) -> Floor:
    """What the dispatcher sees now: who holds an entry, how many printers heat."""
    ctx = context(request)
    occupied = {
        j.printer: j.file.name
        for j in queue_store.jobs(ctx.db, queue_store.ACTIVE)
        if j.printer is not None
    }
    found = request.app.get(dispatcher.DISPATCHER)
    heating = found.heating(time.time()) if found is not None else 0
    refused = frozenset(found.refused) if found is not None else frozenset()
    powering = frozenset(found.powering) if found is not None else frozenset()
    return Floor(ctx.live.printers, occupied, heating, ctx.fleet.max_heating, refused,
                 sources(request.app), powering, ctx.fleet)  # fmt: skip


def _visible_reasons(user: User, fleet: Fleet, reasons: list[dict[str, Any]]) -> list[Any]:
    """Only the reasons about printers ``user`` may watch; who may act on each one."""
    shown = []
    for found in reasons:
        name = found["printer"]
        printer = fleet.printer(name) if name is not None else None
        if name is not None and (printer is None or not may_view(user, printer)):
            continue
        shown.append({**found, "may_act": printer is not None and may_act(user, printer)})
    return shown


def queue_view(request: web.Request, user: User) -> dict[str, Any]:
    """``GET /api/queue`` for ``user``: the entries and printers they may watch."""
    ctx = context(request)
    fleet = ctx.fleet
    floor = floor_now(request)
    entries = []
    waiting: list[JobSide] = []
    for job in queue_store.recent(ctx.db):
        if job.state == "queued":
            waiting.append(dispatcher.job_side(job))
        if not may_see(user, job, fleet):
            continue
        reasons: list[dict[str, Any]] = []
        if job.state == "queued":
            needs = dispatcher.needs_of(job)
            found = job_reasons(job.id, needs, needs.target.printers(fleet), floor,
                                dispatcher.job_side(job))  # fmt: skip
            reasons = _visible_reasons(user, fleet, found)
        sent_to = fleet.printer(job.printer) if job.printer else None
        entries.append({
            **job.to_json(),
            "bed_waiting": bed_waiting(ctx, job),
            "printer_may_act": sent_to is not None and may_act(user, sent_to),
            "waiting_reasons": reasons,
        })  # fmt: skip
    watched = {p.name: may_act(user, p) for p in fleet.printers if may_view(user, p)}
    printers = [
        {**row, "may_act": watched[row["name"]]}
        for row in printer_reasons(fleet, floor, waiting)
        if row["name"] in watched
    ]
    targets = (
        ["fleet"]
        + [f"group:{g}" for g in fleet.groups]
        + [f"printer:{p.name}" for p in fleet.printers]
    )
    allowed = [t for t in targets if may_act_on_target(user, Target.parse(t), fleet)]
    return {"entries": entries, "targets": allowed, "printers": printers}


async def list_queue(request: web.Request) -> web.Response:
    return web.json_response(queue_view(request, current_user(request)))


async def list_printers(request: web.Request) -> web.Response:
    """``GET /api/queue/printers``: why each printer the user may watch takes no work."""
    return web.json_response({"printers": queue_view(request, current_user(request))["printers"]})


def _entry(request: web.Request, user: User) -> Job:
    ctx = context(request)
    text = request.match_info["id"]
    job = queue_store.get(ctx.db, int(text)) if text.isdigit() and len(text) < 18 else None
    if job is None or not may_see(user, job, ctx.fleet):
        raise ApiError(404, f"no queue entry {text[:20]}")
    if not may_change(user, job, ctx.fleet):
        raise ApiError(403, f"{user.name} may not change entries for {job.target}")
    return job


async def change(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    job = _entry(request, user)
    body = await read_object(request)
    if set(body) - {"priority", "position"} or not body:
        raise ApiError(400, 'send {"priority": N} or {"position": "up"|"down"|"top"}')
    if job.state != "queued":
        raise ApiError(409, f"entry {job.id} is {job.state}; only queued entries can be moved")
    if "priority" in body:
        priority = body["priority"]
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ApiError(400, "'priority' must be a whole number")
        if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
            raise ApiError(400, f"'priority' must be between {-MAX_PRIORITY} and {MAX_PRIORITY}")
        queue_store.update(ctx.db, job.id, priority=priority)
        audit.record(ctx.db, user.name, "queue reorder", job.printer,
                     f"entry {job.id} ({job.file.name}): priority {priority}")  # fmt: skip
    if "position" in body:
        where = body["position"]
        if where not in ("up", "down", "top"):
            raise ApiError(400, '\'position\' must be "up", "down" or "top"')
        if not queue_store.move(ctx.db, job.id, where):
            raise ApiError(409, f"entry {job.id} is no longer queued")
        audit.record(ctx.db, user.name, "queue reorder", job.printer,
                     f"entry {job.id} ({job.file.name}): {where}")  # fmt: skip
    _wake(request)
    return web.json_response(_json(ctx.db, job.id))


def _json(db: Any, job_id: int) -> dict[str, Any]:
    job = queue_store.get(db, job_id)
    assert job is not None
    return job.to_json()


async def cancel(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    job = _entry(request, user)
    reason = f"cancelled by {user.name}"
    if job.state == "queued":
        if not queue_store.transition(ctx.db, job.id, ("queued",), state="cancelled",
                                      ended_at=_now(), reason=reason):  # fmt: skip
            raise ApiError(409, f"entry {job.id} was just sent; cancel it again")
    elif job.state in queue_store.ACTIVE:
        printer = ctx.fleet.printer(job.printer or "")
        if job.printer_job is None or printer is None:
            raise ApiError(409, f"entry {job.id} is being sent to {job.printer}; try again shortly")
        await _cancel_on_printer(request, printer, user, job)
        queue_store.transition(ctx.db, job.id, queue_store.ACTIVE, state="cancelled",
                               ended_at=_now(), reason=reason)  # fmt: skip
    elif job.state in queue_store.REQUEUEABLE:
        queue_store.transition(ctx.db, job.id, queue_store.REQUEUEABLE, state="cancelled",
                               reason=reason)  # fmt: skip
    else:
        raise ApiError(409, f"entry {job.id} is already {job.state}")
    queue_store.release_files(ctx.db, ctx.config.data_dir)
    audit.record(ctx.db, user.name, "queue cancel", job.printer,
                 f"entry {job.id} ({job.file.name}), was {job.state}")  # fmt: skip
    _wake(request)
    return web.json_response(_json(ctx.db, job.id))


async def _cancel_on_printer(request: web.Request, printer: Any, user: User, job: Job) -> None:
    ctx = context(request)
    try:
        async with ctx.client.request(
            "POST", printer, "/api/v1/job/cancel", user=user.name
        ) as answer:
            if answer.status in (200, 202):
                return
            try:
                message = (await answer.json()).get("error")
            except (ValueError, AttributeError):
                message = None
            if answer.status == 409:
                # Nothing to cancel: it has just ended; the dispatcher records how.
                live = ctx.live.printers.get(printer.name)
                current = (live.status.get("job") or {}) if live else {}
                if current.get("id") != job.printer_job:
                    return
            raise ApiError(502, f"{printer.name} refused to cancel: {message or answer.status}")
    except (OSError, TimeoutError) as error:
        raise ApiError(502, f"{printer.name} does not answer ({error}); try again") from None


def _now() -> float:
    return time.time()


async def requeue(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    job = _entry(request, user)
    if job.state not in queue_store.REQUEUEABLE:
        raise ApiError(
            409, f"entry {job.id} is {job.state}; only failed or interrupted entries go back"
        )
    queue_store.transition(ctx.db, job.id, queue_store.REQUEUEABLE, state="queued",
                           printer=None, printer_job=None, sent_at=None, started_at=None,
                           ended_at=None, reason=f"requeued by {user.name}")  # fmt: skip
    audit.record(ctx.db, user.name, "queue requeue", job.printer,
                 f"entry {job.id} ({job.file.name}), was {job.state}")  # fmt: skip
    _wake(request)
    return web.json_response(_json(ctx.db, job.id))


def setup(app: web.Application) -> None:
    dispatcher.setup(app)
    app.router.add_post("/api/queue", submit)
    app.router.add_get("/api/queue", list_queue)
    app.router.add_get("/api/queue/printers", list_printers)
    app.router.add_patch("/api/queue/{id}", change)
    app.router.add_delete("/api/queue/{id}", cancel)
    app.router.add_post("/api/queue/{id}/requeue", requeue)
