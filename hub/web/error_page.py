"""What a browser gets instead of a JSON refusal: an HTML page in the site's look, or the login.

A request is a browser's page navigation when it accepts ``text/html`` and carries
no API key and no marker of a script's request (``X-Requested-With``, a
``Sec-Fetch-Mode`` other than ``navigate``); every other client keeps the JSON
``{"error": ...}``. The page loads the shared header (``/static/site-header.js``)
from the hub's root, so it looks the same under any path nginx serves it on.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import CIMultiDictProxy

from hub.auth.rights import User

TITLES = {
    400: "Bad request",
    401: "Log in to continue",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    500: "Something went wrong",
}
SESSION_COOKIE = "fabfleet_session"
# Why the login page is shown (login.js reads it): a session that no longer counts.
EXPIRED = "expired"
MAX_NEXT = 2000


def wants_html(headers: CIMultiDictProxy[str]) -> bool:
    """A browser navigating to a page (not a script's fetch, not an API client)."""
    if "text/html" not in headers.get("Accept", "").lower():
        return False
    if headers.get("X-Api-Key") or headers.get("Authorization") or headers.get("X-Requested-With"):
        return False
    mode = headers.get("Sec-Fetch-Mode", "navigate").lower()
    return mode in ("navigate", "nested-navigate")


def login_url(asked: str, cookies_sent: str) -> str:
    """``/login?next=<asked>``, saying the session expired when the browser sent one."""
    query = {"next": asked[:MAX_NEXT]} if asked.startswith("/") else {}
    if f"{SESSION_COOKIE}=" in cookies_sent:
        query["reason"] = EXPIRED
    text = urlencode(query, safe="/", quote_via=quote)
    return "/login" + ("?" + text if text else "")


def login_redirect(request_headers: CIMultiDictProxy[str], asked: str) -> web.Response:
    """A browser without a (valid) session goes to the login, and back to ``asked`` after."""
    return web.Response(
        status=302,
        headers={"Location": login_url(asked, request_headers.get("Cookie", ""))},
    )


def html_error(status: int, message: str, user: User | None, asked: str) -> web.Response:
    """The page for a refusal: what was refused, who is logged in, and the ways on."""
    title = TITLES.get(status, "Something went wrong")
    if status == 404 and message in ("", "Not Found"):
        message = "there is no page at this address"
    again = "/login?" + urlencode({"next": asked[:MAX_NEXT]}, safe="/", quote_via=quote)
    who = ""
    other = "Log in"
    if user is not None:
        who = (
            f"<p>You are logged in as <strong>{escape(user.name)}</strong>"
            f" ({escape(user.role)}).</p>"
        )
        other = "Log in as someone else"
    ways = f'<a href="/">Back to the fleet</a> <a href="{escape(again)}">{other}</a>'
    shown = escape(asked[:200])
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · fabfleet</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/hub.css">
<link rel="stylesheet" href="/static/site-header.css">
</head>
<body>
<div id="site-header"></div>
<main id="content" class="error-page">
  <section class="card" data-status="{status}">
    <h1>{title}</h1>
    <p class="refused">{escape(_sentence(message))}</p>
    <p class="muted">Page asked for: <code>{shown}</code></p>
    {who}
    <p class="ways">{ways}</p>
  </section>
</main>
<script src="/static/site-header.js"></script>
</body>
</html>
"""
    return web.Response(
        status=status,
        text=body,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


def _sentence(message: str) -> str:
    text = message.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
