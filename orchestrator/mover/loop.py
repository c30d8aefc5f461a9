"""Every few seconds: list the printer pods, decide, delete; say every deletion and error.

A round that fails (no answer, an error status, an answer that is no pod list) deletes
nothing, is said on one line, and the next round tries again: the mover never stops for
the API's sake, and never deletes on a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import aiohttp

from orchestrator.mover.api import Api, ApiError, Cluster
from orchestrator.mover.decide import SELECTOR, Deletion, ShapeError, decide

log = logging.getLogger("fabfleet.mover")
INTERVAL = 10.0


@dataclass
class Round:
    """What one round did: the pods it deleted, and what went wrong (if anything)."""

    deleted: list[Deletion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def one_round(api: Api, namespace: str) -> Round:
    """List, decide, delete, once."""
    done = Round()
    try:
        listed = await api.list_pods(namespace, SELECTOR)
        deletions = decide(listed)
    except (ApiError, ShapeError) as error:
        done.errors.append(f"cannot list the printer pods: {error}")
        log.error("%s; nothing deleted, trying again next round", done.errors[-1])
        return done
    for deletion in deletions:
        try:
            outcome = await api.delete_pod(namespace, deletion.pod, deletion.uid)
        except ApiError as error:
            done.errors.append(f"printer {deletion.printer}: cannot delete {deletion.pod}: {error}")
            log.error("%s; trying again next round", done.errors[-1])
            continue
        if outcome == "deleted":
            done.deleted.append(deletion)
            log.warning(
                "printer %s: deleted pod %s (uid %s): %s",
                deletion.printer,
                deletion.pod,
                deletion.uid,
                deletion.why,
            )
        elif outcome == "gone":
            log.info("printer %s: pod %s was already gone", deletion.printer, deletion.pod)
        else:
            log.info(
                "printer %s: pod %s is no longer pod %s (the name was taken again):"
                " nothing deleted",
                deletion.printer,
                deletion.pod,
                deletion.uid,
            )
    return done


async def run(cluster: Cluster, namespace: str, interval: float, stop: asyncio.Event) -> None:
    """Rounds every ``interval`` seconds until ``stop`` is set."""
    log.info(
        "fabfleet-mover: watching the printer pods of namespace %s (%s) at %s every %g s",
        namespace,
        SELECTOR,
        cluster.server,
        interval,
    )
    async with aiohttp.ClientSession() as session:
        api = Api(cluster, session)
        while not stop.is_set():
            await one_round(api, namespace)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    log.info("fabfleet-mover: stopped")
