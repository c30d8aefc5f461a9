"""A Python module run in a process of its own, with a time limit: the analysis, the preview."""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def run_module(module: str, *arguments: str, seconds: float, late: str) -> tuple[int, bytes]:
    """Run ``python -m module arguments``; its exit code and what it wrote to stderr.

    Past ``seconds`` it is killed and ``late`` stands for its stderr; a
    cancelled caller kills it too (and is cancelled).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *arguments,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, errors = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        errors = late.encode()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    assert process.returncode is not None  # waited for
    return process.returncode, errors
