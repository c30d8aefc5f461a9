"""What a target is told (a notice: JSON for a webhook, text and headers for ntfy), and
why a message did not go out, in words a person reads."""

from __future__ import annotations

import base64
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp


@dataclass(frozen=True, slots=True)
class Notice:
    """What happened, as every kind of target is told."""

    event: str
    printer: str | None
    file: str | None
    outcome: str | None
    reason: str | None
    time: float
    url: str | None

    def payload(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "printer": self.printer,
            "file": self.file,
            "outcome": self.outcome,
            "reason": self.reason,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="seconds"),
            "url": self.url,
        }


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def header_text(text: str) -> str:
    """``text`` fit for an HTTP header: one line, and RFC 2047 encoded when not ASCII."""
    line = "".join(c if c.isprintable() else " " for c in text)[:250]
    if line.isascii():
        return line
    encoded = base64.b64encode(line.encode("utf-8")).decode("ascii")
    return f"=?UTF-8?B?{encoded}?="


def ntfy_message(notice: Notice, duration: float | None) -> tuple[str, dict[str, str]]:
    """The text and headers (Title, Tags, Priority, Click) of an ntfy message."""
    printer = notice.printer or "a printer"
    file = notice.file or "the print"
    if notice.event == "finished":
        took = f" after {_duration(duration)}" if duration is not None else ""
        title, tags, priority = f"{printer}: print finished", "white_check_mark", "default"
        text = f"{file} finished on {printer}{took}. Clear the bed for the next job."
    elif notice.event == "failed":
        how = "was interrupted" if notice.outcome == "interrupted" else (notice.outcome or "failed")
        title, tags, priority = f"{printer}: print failed", "x", "high"
        text = f"{file} {how} on {printer}" + (f": {notice.reason}" if notice.reason else ".")
    elif notice.event == "bed_clear_needed":
        title, tags, priority = f"{printer}: clear the bed", "broom", "default"
        ended = f" ({file}, {notice.outcome})" if notice.outcome else ""
        text = f"{printer} waits for its bed to be cleared{ended}."
    else:
        title, tags, priority = "fabfleet: test", "bell", "default"
        text = "A test message from the fabfleet hub: this target works."
    headers = {"Title": header_text(title), "Tags": tags, "Priority": priority}
    if notice.url:
        headers["Click"] = header_text(notice.url)
    return text, headers


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _os_reason(error: BaseException | None) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "no such host name"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) if error else "no connection"


def failure_text(url: str, error: BaseException) -> str:
    """Why a message did not go out, as a person reads it (not aiohttp's wording)."""
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError) and url.startswith("https:"):
        reason = getattr(error, "os_error", None) or error
        detail = getattr(reason, "reason", None) or getattr(reason, "strerror", None) or reason
        return f"TLS error talking to {_where(url)}: {detail}"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"could not connect to {_where(url)} ({_os_reason(error.os_error)})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return f"{_where(url)} closed the connection without an answer"
    if isinstance(error, aiohttp.InvalidURL):
        return f"{url} is not a URL the hub can send to"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{_where(url)} sent an answer that is not HTTP ({error.message})"
    if isinstance(error, OSError):
        return f"could not connect to {_where(url)} ({_os_reason(error)})"
    return f"could not send to {_where(url)}: {error or type(error).__name__}"
