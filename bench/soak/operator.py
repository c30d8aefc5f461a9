"""The scripted person: queues files for the fleet, confirms beds once a printer asks, requeues
what a fault interrupted and cancels now and then — through the proxy, logged in like a browser
(session cookie, ``X-CSRF-Token``), with a person's few seconds between seeing and acting."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.soak.jobs import JobFile
from bench.soak.stack import ADMIN, PASSWORD

# A printer asking for its bed: the print server says the bed is not confirmed clear.
WAITING_FOR_BED = ("finished", "bed not cleared", "failed", "cancelled")
TIMEOUT = aiohttp.ClientTimeout(total=30)
# The status noted for a request that got no HTTP answer at all (connection reset or refused).
NO_ANSWER = 0


@dataclass
class Submitted:
    entry: int
    file_id: int
    name: str
    at: float
    requeued: list[float] = field(default_factory=list)
    cancelled_at: float | None = None


@dataclass
class Operator:
    base: str
    files: list[JobFile]
    rng: random.Random
    submitted: dict[int, Submitted] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    printers: dict[str, dict[str, Any]] = field(default_factory=dict)
    bed_asked: dict[str, float] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    csrf: str = ""
    _next_file: int = 0

    def log(self, action: str, **details: Any) -> None:
        self.actions.append({"at": time.time(), "action": action, **details})

    async def login(self) -> None:
        if self.session is not None:
            await self.session.close()
        # unsafe: keep cookies of an IP address (the proxy on 127.0.0.1), as a browser does.
        self.session = aiohttp.ClientSession(
            timeout=TIMEOUT, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        async with self.session.post(
            f"{self.base}/api/login", json={"username": ADMIN, "password": PASSWORD}
        ) as answer:
            answer.raise_for_status()
            self.csrf = str((await answer.json())["csrf"])

    def cookie(self) -> str:
        assert self.session is not None
        return "; ".join(f"{c.key}={c.value}" for c in self.session.cookie_jar)

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One request; (status, JSON or text). A hub being restarted answers 502 and a
        connection cut under it gives NO_ANSWER: both retried by the loop's next round, not
        here. A lost session logs in again."""
        for attempt in (1, 2):
            if self.session is None:
                await self.login()
            assert self.session is not None
            headers = {"Accept": "application/json", "X-CSRF-Token": self.csrf}
            try:
                async with self.session.request(
                    method, f"{self.base}{path}", headers=headers, **kwargs
                ) as answer:
                    body: Any = await answer.text()
                    with contextlib.suppress(ValueError):
                        body = await answer.json(content_type=None)
                    if answer.status == 401 and attempt == 1:
                        await self.login()
                        continue
                    return answer.status, body
            except (TimeoutError, aiohttp.ClientError) as error:
                # A connection reset or refused (the proxy reloaded or restarted under a
                # kept-alive connection): what a browser shows as a failed request. The
                # caller notes it and its loop's next round looks again.
                return NO_ANSWER, f"no answer: {error!r}"
        return 401, "not logged in"

    async def submit(self) -> None:
        job = self.files[self._next_file % len(self.files)]
        self._next_file += 1
        form = aiohttp.FormData()
        form.add_field("file", job.data, filename=job.name, content_type="text/x-gcode")
        form.add_field("copies", "1")
        form.add_field("target", "fleet")
        status, body = await self._call("POST", "/api/queue", data=form)
        if status != 201:
            self.errors.append(f"{time.time():.1f} submit {job.name}: {status} {str(body)[:200]}")
            return
        for entry in body["entries"]:
            made = Submitted(int(entry["id"]), int(entry["file"]["id"]), job.name, time.time())
            self.submitted[made.entry] = made
            self.log("submit", entry=made.entry, file=job.name)

    async def refresh(self) -> bool:
        """The queue and the fleet as the pages show them; False while the hub does not answer."""
        status, body = await self._call("GET", "/api/queue")
        if status != 200:
            self.errors.append(f"{time.time():.1f} GET /api/queue: {status} {str(body)[:200]}")
            return False
        for entry in body["entries"]:
            self.entries[int(entry["id"])] = entry
        status, body = await self._call("GET", "/api/fleet")
        if status != 200:
            self.errors.append(f"{time.time():.1f} GET /api/fleet: {status} {str(body)[:200]}")
            return False
        self.printers = {str(p["name"]): p for p in body["printers"]}
        return True

    def open_entries(self) -> list[dict[str, Any]]:
        return [
            e
            for i, e in self.entries.items()
            if i in self.submitted and e["state"] in ("queued", "sent", "printing")
        ]

    def queued(self) -> int:
        return sum(1 for e in self.open_entries() if e["state"] == "queued")

    async def requeue_interrupted(self) -> None:
        for entry_id, entry in list(self.entries.items()):
            mine = self.submitted.get(entry_id)
            if mine is None or entry["state"] != "interrupted" or mine.cancelled_at is not None:
                continue
            status, body = await self._call("POST", f"/api/queue/{entry_id}/requeue")
            if status == 200:
                mine.requeued.append(time.time())
                entry["state"] = "queued"
                self.log("requeue", entry=entry_id, printer=entry.get("printer"))
            else:
                self.errors.append(
                    f"{time.time():.1f} requeue {entry_id}: {status} {str(body)[:200]}"
                )

    async def confirm_beds(self) -> None:
        """A person sees a printer waiting for its bed, walks over, and confirms it a few seconds
        later."""
        now = time.time()
        for name, printer in self.printers.items():
            status = printer.get("status") or {}
            waiting = (
                printer.get("online")
                and status.get("connected")
                and not status.get("bed_clear")
                and printer.get("state") in WAITING_FOR_BED
            )
            if not waiting:
                self.bed_asked.pop(name, None)
                continue
            seen = self.bed_asked.setdefault(name, now + self.rng.uniform(1.0, 4.0))
            if now < seen:
                continue
            answer, body = await self._call("POST", f"/api/printers/{name}/bed-clear")
            self.bed_asked.pop(name, None)
            if answer == 200:
                self.log("bed clear", printer=name)
            else:
                self.errors.append(f"{now:.1f} bed clear {name}: {answer} {str(body)[:200]}")

    async def cancel_on(self, printer: str | None) -> str:
        """Cancel the entry printing on ``printer`` (or, when it prints none, any printing one)."""
        printing = [e for e in self.open_entries() if e["state"] == "printing"]
        chosen = [e for e in printing if e.get("printer") == printer] or printing
        if not chosen:
            return "nothing was printing"
        entry = chosen[0]
        entry_id = int(entry["id"])
        when = time.time()
        status, body = await self._call("DELETE", f"/api/queue/{entry_id}")
        if status != 200:
            return f"DELETE /api/queue/{entry_id}: {status} {str(body)[:200]}"
        self.submitted[entry_id].cancelled_at = when
        self.log("cancel", entry=entry_id, printer=entry.get("printer"))
        return f"cancelled entry {entry_id} on {entry.get('printer')}"

    async def round(self, feeding: bool, keep_queued: int) -> None:
        """One look at the pages and what a person does about it."""
        try:
            if not await self.refresh():
                return
            await self.requeue_interrupted()
            await self.confirm_beds()
            if feeding:
                for _ in range(max(0, keep_queued - self.queued())):
                    await self.submit()
        except (TimeoutError, aiohttp.ClientError) as error:
            self.errors.append(f"{time.time():.1f} {type(error).__name__}: {error}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                await self.login()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
