"""Notification targets: their table, what a valid one is, and what was sent to each.

A target is a webhook (JSON) or an ntfy topic (text and headers) at an http(s) URL,
with the events it wants. ``notify_sent`` remembers which job each target was told
about, so a reconnecting print server or a restarted hub sends nothing twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hub.errors import ApiError

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    -- Where the hub was reached when the target was added: links in messages start here.
    base_url TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    last_event TEXT,
    last_attempt REAL,
    last_ok INTEGER,
    last_error TEXT,
    last_delivered REAL
);
CREATE TABLE IF NOT EXISTS notify_sent (
    target INTEGER NOT NULL REFERENCES notify_targets (id) ON DELETE CASCADE,
    printer TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    event TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (target, printer, job_id, started_at)
);
"""

KINDS = ("webhook", "ntfy")
EVENTS = ("finished", "failed", "bed_clear_needed")
MAX_TARGETS = 100
MAX_URL = 2000
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    name: str
    kind: str
    url: str
    events: tuple[str, ...]
    base_url: str
    created_at: float


# ---------------------------------------------------------------- validation


def check_url(raw: Any) -> str:
    """An http(s) URL with a host, or ApiError 400 saying what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "url is required: the webhook's or the ntfy topic's http(s) URL")
    url = raw.strip()
    if len(url) > MAX_URL:
        raise ApiError(400, f"url is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ApiError(400, "url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        _port = parts.port  # a port that is not a number or out of range raises here
    except ValueError as error:
        raise ApiError(400, f"url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = parts.scheme or "none"
        raise ApiError(400, f"url must start with http:// or https:// (scheme {shown!r})")
    if not parts.hostname:
        raise ApiError(400, "url names no host")
    return url


def check_events(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return EVENTS
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise ApiError(400, f"events must be a non-empty list of {', '.join(EVENTS)}")
    unknown = [e for e in raw if e not in EVENTS]
    if unknown:
        raise ApiError(400, f"unknown event {unknown[0][:40]!r}; known: {', '.join(EVENTS)}")
    return tuple(e for e in EVENTS if e in raw)


def check_name(raw: Any, url: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return urlsplit(url).hostname or url
    if not isinstance(raw, str):
        raise ApiError(400, "name must be text")
    name = " ".join(raw.split())
    if len(name) > MAX_NAME:
        raise ApiError(400, f"name is longer than {MAX_NAME} characters")
    return name


# ---------------------------------------------------------------- the store


def target_of(row: sqlite3.Row) -> Target:
    return Target(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        url=row["url"],
        events=tuple(json.loads(row["events"])),
        base_url=row["base_url"],
        created_at=row["created_at"],
    )


def targets(db: sqlite3.Connection) -> list[Target]:
    return [target_of(r) for r in db.execute("SELECT * FROM notify_targets ORDER BY id")]


def target_json(row: sqlite3.Row) -> dict[str, Any]:
    status = None if row["last_ok"] is None else ("delivered" if row["last_ok"] else "failed")
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "last": {
            "status": status,
            "event": row["last_event"],
            "time": row["last_attempt"],
            "error": row["last_error"],
            "delivered_at": row["last_delivered"],
        },
    }


def claim(db: sqlite3.Connection, target: Target, job: dict[str, Any], event: str) -> bool:
    """Note that ``target`` is told about ``job``; False when it was already."""
    try:
        db.execute(
            "INSERT INTO notify_sent (target, printer, job_id, started_at, event, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (target.id, job["printer"], job["id"], job["started_at"], event, time.time()),
        )
    except sqlite3.IntegrityError:
        return False
    return True
