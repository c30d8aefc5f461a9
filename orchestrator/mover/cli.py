"""``fabfleet-mover``: delete printer pods whose device is gone, so they follow their printer.

Runs in the cluster (docs/kubernetes.md, "A moved printer's pod moves with it"). Every
setting has its environment variable; the defaults are the in-cluster ones.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from orchestrator.mover.api import CA_FILE, TOKEN_FILE, Cluster, server_of
from orchestrator.mover.loop import INTERVAL, run

NAMESPACE = "fabfleet"


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text} s: give more than 0 and less than a day")
    return value


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parsed = argparse.ArgumentParser(prog="fabfleet-mover", description=__doc__)
    parsed.add_argument(
        "--namespace",
        default=env("FABFLEET_NAMESPACE", NAMESPACE),
        help=f"the fleet's namespace (FABFLEET_NAMESPACE; {NAMESPACE})",
    )
    parsed.add_argument(
        "--interval",
        type=_positive,
        default=env("FABFLEET_MOVER_INTERVAL", str(INTERVAL)),
        help=f"seconds between rounds (FABFLEET_MOVER_INTERVAL; {INTERVAL:g})",
    )
    parsed.add_argument(
        "--timeout",
        type=_positive,
        default=env("FABFLEET_MOVER_TIMEOUT", "10"),
        help="seconds a request to the API server may take (FABFLEET_MOVER_TIMEOUT; 10)",
    )
    parsed.add_argument(
        "--server",
        default=env("FABFLEET_KUBE_SERVER"),
        help="the API server's https:// URL (FABFLEET_KUBE_SERVER; by default from"
        " KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, as in a pod)",
    )
    parsed.add_argument(
        "--token-file",
        type=Path,
        default=env("FABFLEET_KUBE_TOKEN_FILE", str(TOKEN_FILE)),
        help=f"the ServiceAccount token (FABFLEET_KUBE_TOKEN_FILE; {TOKEN_FILE})",
    )
    parsed.add_argument(
        "--ca-file",
        type=Path,
        default=env("FABFLEET_KUBE_CA_FILE", str(CA_FILE)),
        help=f"the cluster's CA certificates (FABFLEET_KUBE_CA_FILE; {CA_FILE})",
    )
    return parsed


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    server = arguments.server
    if not server:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT")
        if not (host and port):
            print(
                "fabfleet-mover: no API server: KUBERNETES_SERVICE_HOST and"
                " KUBERNETES_SERVICE_PORT are not set (the mover runs in a pod), nor --server",
                file=sys.stderr,
            )
            return 2
        server = server_of(host, port)
    if not server.startswith("https://"):
        print(
            f"fabfleet-mover: {server}: the API server is asked over https:// only", file=sys.stderr
        )
        return 2
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    cluster = Cluster(
        server=server.rstrip("/"),
        token_file=arguments.token_file,
        ca_file=arguments.ca_file,
        timeout=arguments.timeout,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sign in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sign, stop.set)
        await run(cluster, arguments.namespace, arguments.interval, stop)

    asyncio.run(serve())
    return 0
