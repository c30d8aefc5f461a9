"""Fetching one frame from the camera's snapshot URL (ustreamer's ``/snapshot``)."""

from __future__ import annotations

import asyncio

import aiohttp

# A frame later than this is a missed frame: the job never waits for the camera.
SNAPSHOT_TIMEOUT = 3.0
# Larger answers are not a webcam frame.
MAX_FRAME_BYTES = 16 * 1024 * 1024
JPEG_START = b"\xff\xd8"


class CameraError(Exception):
    """No frame: the message says why in a user's words ("refused", "timed out")."""


async def snapshot(
    session: aiohttp.ClientSession, url: str, within: float = SNAPSHOT_TIMEOUT
) -> bytes:
    """One JPEG frame from ``url``; :class:`CameraError` when there is none."""
    try:
        async with asyncio.timeout(within):
            async with session.get(url) as answer:
                if answer.status != 200:
                    raise CameraError(f"the camera answered HTTP {answer.status}")
                body = await answer.content.read(MAX_FRAME_BYTES + 1)
    except TimeoutError:
        raise CameraError(f"no frame within {within:g} s") from None
    except aiohttp.ClientError as error:
        raise CameraError(f"camera unreachable: {error.__class__.__name__}") from None
    except OSError as error:
        raise CameraError(f"camera unreachable: {error.strerror or error}") from None
    if len(body) > MAX_FRAME_BYTES:
        raise CameraError("the camera's answer is too large for a frame")
    if not body.startswith(JPEG_START):
        raise CameraError("the camera's answer is not a JPEG")
    return body
