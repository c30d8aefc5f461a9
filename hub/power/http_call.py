"""One HTTP request to a power device, bounded in time, turned into (status, JSON, problem).

Every network failure becomes a sentence, never an exception: a driver turns the sentence
into an unknown state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

# Seconds for the whole request; a plug on the local network answers in well under one.
TIMEOUT = aiohttp.ClientTimeout(total=4, sock_connect=3)
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str
    # The decoded JSON body (None: not JSON).
    json: Any = None
    # Set when no answer came: why.
    problem: str | None = None


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Answer:
    try:
        async with session.request(method, url, timeout=TIMEOUT, **kwargs) as answer:
            raw = await answer.content.read(MAX_BODY)
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            return Answer(answer.status, text, body)
    except TimeoutError:
        return Answer(0, "", problem=f"no answer within {TIMEOUT.total:g} s")
    except aiohttp.ClientResponseError as error:
        return Answer(error.status, "", problem=f"HTTP {error.status} {error.message}")
    except (aiohttp.ClientError, OSError, ValueError) as error:
        return Answer(0, "", problem=str(error) or type(error).__name__)


def snippet(text: str) -> str:
    """The start of an unexpected body, for a reason sentence."""
    text = " ".join(text.split())
    return (text[:80] + "…") if len(text) > 80 else text
