"""The paths of OctoPrint's application keys workflow, the only ones open without login.

Modelled on OctoPrint's bundled plugin (OctoPrint/OctoPrint
``src/octoprint/plugins/appkeys/__init__.py``): an app probes, asks, then polls
with the token it was given; the auth dialog's link is where a person decides.
Below ``/printers/<name>/`` exactly these, with these methods, and nothing else::

    GET  plugin/appkeys/probe
    POST plugin/appkeys/request
    GET  plugin/appkeys/request/<token>
    GET  plugin/appkeys/auth/<token>

No I/O: the gate (hub/auth/gate.py) asks :func:`open_to_apps`.
"""

from __future__ import annotations

import re

# What the hub hands out (secrets.token_urlsafe), with room, and nothing else.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def open_to_apps(method: str, rest: list[str]) -> bool:
    """Whether ``method`` on the path below a printer (its segments) is the workflow's."""
    match rest:
        case ["plugin", "appkeys", "probe"]:
            return method in ("GET", "HEAD")
        case ["plugin", "appkeys", "request"]:
            return method == "POST"
        case ["plugin", "appkeys", "request" | "auth", token]:
            return method in ("GET", "HEAD") and TOKEN.fullmatch(token) is not None
        case _:
            return False
