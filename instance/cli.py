"""The ``fabfleet-instance`` command: serve a printer, print a file from the console, list jobs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from instance.job_records import DataDirInUse, JobOutcome, JobRecord, JobRecords, JobRecordsError
from instance.link import LinkSettings
from instance.printer import Printer, PrinterError, PrinterSettings, PrinterState
from instance.resume import ResumeError, plan_resume
from instance.stored_format import FormatRefused
from instance.transport.open import describe_port_problem

EXIT_COMPLETED = 0
EXIT_JOB_ENDED = 1
EXIT_USAGE = 2
EXIT_NO_PRINTER = 3


def default_data_dir() -> Path:
    configured = os.environ.get("FABFLEET_DATA_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "share" / "fabfleet-instance"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabfleet-instance", description="fabfleet's print server for one printer"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log protocol details")
    commands = parser.add_subparsers(dest="command", required=True)

    print_ = commands.add_parser("print", help="print a G-code file and wait for the end")
    print_.add_argument("file", type=Path, help="the G-code file")
    print_.add_argument(
        "--port",
        required=True,
        help="device path (/dev/ttyUSB0) or socket://HOST:PORT or rfc2217://HOST:PORT",
    )
    print_.add_argument("--baudrate", type=int, default=250000)
    print_.add_argument("--data-dir", type=Path, default=None, help="job records live here")
    print_.add_argument("--command-buffer", type=int, default=4, help="firmware BUFSIZE")
    print_.add_argument("--rx-buffer", type=int, default=128, help="firmware receive buffer")
    print_.add_argument("--connect-timeout", type=float, default=30.0)
    print_.add_argument(
        "--response-timeout",
        type=float,
        default=10.0,
        help="seconds of silence before the printer is prompted with M105",
    )
    print_.add_argument(
        "--resume", type=int, metavar="JOB", help="continue an interrupted job (crash, unplug)"
    )
    print_.add_argument(
        "--from-layer", action="store_true", help="with --resume: restart the interrupted layer"
    )
    print_.add_argument("--quiet", action="store_true", help="no progress line")

    _serve_parser(commands)

    jobs = commands.add_parser("jobs", help="list recorded jobs, newest first")
    jobs.add_argument("--data-dir", type=Path, default=None)
    jobs.add_argument("--json", action="store_true")
    jobs.add_argument("--limit", type=int, default=20)
    return parser


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from instance.web.config import OPTIONS

    serve = commands.add_parser(
        "serve",
        help="run the print server: web page, API and live events for one printer",
        description="Every option can also come from the environment (FABFLEET_<OPTION>, e.g."
        " FABFLEET_API_KEY) or a --config file (TOML or YAML, keys as the options with _);"
        " the command line wins over the environment, the environment over the file.",
    )
    serve.add_argument("--config", type=Path, help="per-instance config file (.toml or .yaml)")
    for option in OPTIONS:
        default = f" (default {option.default})" if option.default not in (None, "") else ""
        serve.add_argument(
            option.flag, dest=option.name, default=None, help=f"{option.help}{default}"
        )


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if arguments.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if arguments.command == "serve":
        return _serve(arguments)
    data_dir = arguments.data_dir or default_data_dir()
    if arguments.command == "jobs":
        return _jobs(data_dir, arguments.json, arguments.limit)
    return _print(arguments, data_dir)


def _serve(arguments: argparse.Namespace) -> int:
    from instance.web.config import OPTIONS, ConfigError, environment, load_config
    from instance.web.server import serve

    given = {option.name: getattr(arguments, option.name) for option in OPTIONS}
    try:
        config = load_config(given, environment(), arguments.config)
    except ConfigError as error:
        print(f"fabfleet-instance serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    problem = describe_port_problem(config.port)
    if problem is not None:
        print(f"fabfleet-instance serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(serve(config))
    except (DataDirInUse, JobRecordsError, FormatRefused, OSError) as error:
        print(f"fabfleet-instance serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0


def _jobs(data_dir: Path, as_json: bool, limit: int) -> int:
    try:
        with JobRecords(data_dir) as records:
            # Holding the data dir means no print server is running: any job
            # still open was cut short, and is closed as interrupted here.
            records.recover(time.time())
            listed = records.list(limit)
    except JobRecordsError as error:
        print(f"fabfleet-instance: {error}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        print(json.dumps([asdict(record) for record in listed], indent=2))
        return 0
    for record in listed:
        print(_describe(record))
    return 0


def _describe(record: JobRecord) -> str:
    outcome = record.outcome.value if record.outcome is not None else "running"
    reason = f" ({record.reason})" if record.reason else ""
    line = f", last acknowledged line {record.last_line}" if record.last_line else ""
    return f"job {record.id}: {record.file_name} {outcome}{reason}{line}"


def _print(arguments: argparse.Namespace, data_dir: Path) -> int:
    problem = describe_port_problem(arguments.port)
    if problem is not None:
        print(f"fabfleet-instance: {problem}", file=sys.stderr)
        return EXIT_USAGE
    path: Path = arguments.file
    if not path.is_file():
        print(f"fabfleet-instance: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_print_async(arguments, data_dir))
    except KeyboardInterrupt:
        return EXIT_JOB_ENDED


async def _print_async(arguments: argparse.Namespace, data_dir: Path) -> int:
    link = LinkSettings(
        port=arguments.port,
        baudrate=arguments.baudrate,
        command_slots=arguments.command_buffer,
        rx_buffer=arguments.rx_buffer,
        response_timeout=arguments.response_timeout,
    )
    try:
        printer = Printer(PrinterSettings(link=link, data_dir=data_dir))
    except (DataDirInUse, JobRecordsError, FormatRefused, ValueError) as error:
        print(f"fabfleet-instance: {error}", file=sys.stderr)
        return EXIT_USAGE
    for record in printer.interrupted_jobs:
        print(
            f"fabfleet-instance: {_describe(record)}; continue it with "
            f"--resume {record.id} [--from-layer] (see docs/crash-resume.md)",
            file=sys.stderr,
        )
    await printer.start()
    try:
        return await _run_print(printer, arguments)
    finally:
        await printer.stop()


async def _run_print(printer: Printer, arguments: argparse.Namespace) -> int:
    try:
        await asyncio.wait_for(printer.link.wait_ready(), arguments.connect_timeout)
    except TimeoutError:
        reason = printer.link.last_error or printer.error or "no answer"
        print(f"fabfleet-instance: printer not ready: {reason}", file=sys.stderr)
        return EXIT_NO_PRINTER
    # Running this command is the operator's statement that the bed is clear.
    printer.confirm_bed_clear()
    start_offset = 0
    preamble: list[str] | None = None
    if arguments.resume is not None:
        record = printer.records.get(arguments.resume)
        if record is None:
            print(f"fabfleet-instance: no job {arguments.resume} is recorded", file=sys.stderr)
            return EXIT_USAGE
        try:
            plan = plan_resume(record, arguments.file, from_layer=arguments.from_layer)
        except ResumeError as error:
            print(f"fabfleet-instance: cannot resume: {error}", file=sys.stderr)
            return EXIT_USAGE
        start_offset, preamble = plan.offset, plan.preamble
        print(f"resuming job {record.id} at file line {plan.line} (Z {plan.z})", file=sys.stderr)
    try:
        await printer.start_print(
            arguments.file,
            start_offset=start_offset,
            resumed_from=arguments.resume,
            preamble=preamble,
            started_by="console",
        )
    except (PrinterError, ValueError, OSError) as error:
        print(f"fabfleet-instance: cannot start: {error}", file=sys.stderr)
        return EXIT_USAGE
    loop = asyncio.get_running_loop()
    cancel_requested = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, cancel_requested.set)
    reporter = None if arguments.quiet else asyncio.create_task(_report(printer))
    done = asyncio.create_task(printer.wait_for_job())
    cancel = asyncio.create_task(cancel_requested.wait())
    await asyncio.wait({done, cancel}, return_when=asyncio.FIRST_COMPLETED)
    if not done.done():
        print("\ncancelling ...", file=sys.stderr)
        with contextlib.suppress(PrinterError):
            await printer.cancel()
        await done
    cancel.cancel()
    if reporter is not None:
        reporter.cancel()
    record = done.result()
    sys.stderr.write("\n")
    if record is None:
        print("fabfleet-instance: the job ended without a record", file=sys.stderr)
        return EXIT_JOB_ENDED
    print(_describe(record))
    if record.outcome is JobOutcome.COMPLETED:
        return EXIT_COMPLETED
    return EXIT_JOB_ENDED


async def _report(printer: Printer) -> None:
    interactive = sys.stderr.isatty()
    while True:
        job = printer.job
        if job is not None:
            progress = job.progress()
            remaining = _clock(progress.remaining) if progress.remaining is not None else "?"
            text = (
                f"{printer.state.value}: {progress.file_name} {progress.fraction * 100:5.1f}% "
                f"({progress.lines_done}/{progress.lines_total} lines) "
                f"elapsed {_clock(progress.elapsed)} remaining {remaining}"
            )
            sys.stderr.write(("\r" + text + "   ") if interactive else text + "\n")
            sys.stderr.flush()
        elif printer.state is not PrinterState.PRINTING:
            pass
        await asyncio.sleep(0.5 if interactive else 5.0)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


if __name__ == "__main__":
    raise SystemExit(main())
