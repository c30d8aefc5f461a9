"""A connected, idle print server: ``Printer`` on a port, doing nothing until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings


async def _idle(port: str, data_dir: Path, connect_timeout: float) -> int:
    printer = Printer(PrinterSettings(link=LinkSettings(port=port), data_dir=data_dir))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await printer.start()
    try:
        try:
            await asyncio.wait_for(printer.link.wait_ready(), connect_timeout)
        except TimeoutError:
            print(f"not ready: {printer.link.last_error or 'no answer'}", flush=True)
            return 1
        print(f"connected: {printer.state.value}", flush=True)
        await stop.wait()
        return 0
    finally:
        await printer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    arguments = parser.parse_args(argv)
    return asyncio.run(_idle(arguments.port, arguments.data_dir, arguments.connect_timeout))


if __name__ == "__main__":
    sys.exit(main())
