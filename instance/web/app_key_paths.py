"""The paths of OctoPrint's application keys workflow: the only ones open without login.

Both access checks (instance/web/auth.py) let exactly these through, with these
methods; the handlers are in instance/web/appkeys_api.py. No I/O.
"""

from __future__ import annotations

import re

PROBE = "/plugin/appkeys/probe"
REQUEST = "/plugin/appkeys/request"
AUTH = "/plugin/appkeys/auth"
# The tokens the hub hands out (secrets.token_urlsafe), with room, and nothing else.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def open_to_apps(method: str, path: str) -> bool:
    """Whether this request is the workflow's."""
    if path == PROBE:
        return method in ("GET", "HEAD")
    if path == REQUEST:
        return method == "POST"
    for base in (REQUEST, AUTH):
        if path.startswith(base + "/") and TOKEN.fullmatch(path[len(base) + 1 :]):
            return method in ("GET", "HEAD")
    return False
