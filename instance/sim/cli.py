"""The fabfleet-sim command: a simulated printer on a pty or a TCP port."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from instance.sim.faults import FAULTS, Fault, parse_fault
from instance.sim.options import CAPABILITY_REPORTS, IDENTITIES, MOVE_TIMINGS, SimOptions
from instance.sim.runner import PtyServer, TcpServer, serve_pty, serve_tcp
from instance.sim.scenario import load_scenario
from instance.sim.stats_file import keep_writing

log = logging.getLogger("fabfleet.sim")

_CHOICES = {
    "identity": IDENTITIES,
    "move_timing": MOVE_TIMINGS,
    "capabilities_report": CAPABILITY_REPORTS,
}
# Short spellings people reach for, next to the field names.
_ALIASES = {"autoreport_temp": ["--autoreport"]}


def _tcp_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabfleet-sim",
        description="A Marlin-like 3D printer for tests, benchmarks and demos.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--pty",
        nargs="?",
        const="",
        metavar="LINK",
        help="serve on a pseudo-terminal (default), with an optional stable symlink LINK",
    )
    where.add_argument(
        "--tcp", type=_tcp_address, metavar="HOST:PORT", help="serve on TCP (port 0: any free port)"
    )
    parser.add_argument("--scenario", metavar="FILE", help="TOML scenario file")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:key=value,...]",
        help="add a fault (repeatable); --list-faults shows them",
    )
    parser.add_argument("--list-faults", action="store_true", help="list the faults and exit")
    parser.add_argument("--record", metavar="FILE", help="append every executed command to FILE")
    parser.add_argument(
        "--stats",
        metavar="FILE",
        help="keep FILE (JSON) up to date with commands run and planner starvation, every second",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    options = parser.add_argument_group("printer options (override the scenario)")
    for field in dataclasses.fields(SimOptions):
        flag = "--" + field.name.replace("_", "-")
        extra = [*_ALIASES.get(field.name, [])]
        if field.name == "latency":
            options.add_argument(
                flag,
                dest="latency_ms",
                type=float,
                default=argparse.SUPPRESS,
                metavar="MS",
                help="delay before printer output reaches the host, in milliseconds",
            )
        elif field.name == "ok_after_resend":
            options.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help="force an ok after every resend request, or none (default: the profile's)",
            )
        elif field.name == "service_jitter":
            options.add_argument(
                flag,
                dest="service_jitter_ms",
                type=float,
                default=argparse.SUPPRESS,
                metavar="MS",
                help="a line error is noticed up to this long after the line arrived, "
                "in milliseconds (default: 2)",
            )
        elif field.type in ("bool", bool):
            options.add_argument(
                flag,
                *extra,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"(default: {field.default})",
            )
        elif field.name == "baud":
            options.add_argument(
                flag, type=int, default=argparse.SUPPRESS, help="pace bytes at this baud rate"
            )
        else:
            kind = type(field.default)
            options.add_argument(
                flag,
                dest=field.name,
                type=kind,
                choices=_CHOICES.get(field.name),
                default=argparse.SUPPRESS,
                help=f"(default: {field.default})",
            )
    return parser


def _list_faults() -> None:
    for name, spec in sorted(FAULTS.items()):
        params = " ".join(f"{key}={param.default}" for key, param in spec.params.items())
        print(f"{name:18} [{spec.kind}] {spec.summary}" + (f"  ({params})" if params else ""))


async def _serve(args: argparse.Namespace, options: SimOptions, faults: list[Fault]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server: PtyServer | TcpServer
    if args.tcp is not None:
        host, port = args.tcp
        server = await serve_tcp(options, faults, host, port, record_path=args.record)
        where = f"{host}:{server.port}"
    else:
        link = args.pty or None
        server = await serve_pty(options, faults, link, record_path=args.record)
        where = link or server.path
        log.info("device %s", server.path)
    print(f"fabfleet-sim: listening on {where}", flush=True)
    for fault in faults:
        log.info("fault %s", fault.describe())
    stats = None
    if args.stats:
        stats = asyncio.create_task(keep_writing(server.firmware, Path(args.stats)))
    await stop.wait()
    log.info("stopping")
    if stats is not None:
        stats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stats
    await server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as leaving:
        return leaving.code if isinstance(leaving.code, int) else 2
    if args.list_faults:
        try:
            _list_faults()
            sys.stdout.flush()
        except BrokenPipeError:
            # Read only in part (`| head`): not an error. Point stdout at /dev/null so the
            # interpreter's own flush at exit does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="fabfleet-sim: %(message)s",
    )
    try:
        values: dict[str, Any] = {}
        faults: list[Fault] = []
        if args.scenario:
            scenario = load_scenario(args.scenario)
            values.update(scenario.options)
            faults.extend(scenario.faults)
        for field in dataclasses.fields(SimOptions):
            if field.name in vars(args):
                values[field.name] = getattr(args, field.name)
        if "latency_ms" in vars(args):
            values["latency"] = args.latency_ms / 1000.0
        if "service_jitter_ms" in vars(args):
            values["service_jitter"] = args.service_jitter_ms / 1000.0
        if values.get("baud") == 0:
            values["baud"] = None
        options = SimOptions(**values)
        faults.extend(parse_fault(text) for text in args.fault)
    except ValueError as error:
        print(f"fabfleet-sim: error: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args, options, faults))
    except OSError as error:
        print(f"fabfleet-sim: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
