"""Commands from the broker: ``pause``, ``resume``, ``cancel`` or ``bed_clear`` published on
``<topic_prefix>/printer/<name>/command`` (docs/mqtt.md).

Only when the fleet file turns commands on (``site.mqtt.publish.commands``), each run as its
``as_user`` through the fleet actions' own path (hub/fleet/actions.py): the same rights
check, one audit entry ``printer.<command>`` with the detail ``<command> (via MQTT)`` that
ends ``done`` or ``refused`` (no right, no such user, or a print server that refuses in its
state), and the print server's answer. A user that does not exist or is disabled has no
rights. Anything else on the topic (an unknown word, a long or binary payload) is logged and
ignored. The outcome goes to ``<topic_prefix>/printer/<name>/result`` (not retained).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub.auth.accounts import get_user
from hub.auth.rights import User
from hub.context import HubContext
from hub.fleet.actions import Request, act_on
from hub.mqtt.topics import COMMANDS

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64
VIA = "via MQTT"


def command_of(payload: bytes) -> str | None:
    """The command a payload asks for, or None (logged by the caller)."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        word = payload.decode("utf-8").strip().lower()
    except UnicodeDecodeError:
        return None
    return COMMANDS.get(word)


async def run_command(
    ctx: HubContext, as_user: str, printer: str, command: str, slots: asyncio.Semaphore
) -> dict[str, Any]:
    """Run one command as ``as_user``; the result published on the result topic."""
    user = get_user(ctx.db, as_user) or User(as_user, "viewer")
    result = await act_on(ctx, user, printer, Request(command, (printer,), via=VIA), slots)
    result.update(command=command, user=as_user)
    if result["ok"]:
        log.info("MQTT command %s on %s done as %s", command, printer, as_user)
    else:
        log.warning(
            "MQTT command %s on %s as %s refused: %s", command, printer, as_user, result["error"]
        )
    return result
