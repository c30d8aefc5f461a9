"""How long the hub's gate takes to answer nginx (``GET /api/auth/check``) for a request that
passes: what every proxied request to a print server or camera waits for.

A real hub process (``fabfleet-hub serve``) with three printers; an operator of the
printers' group, logged in (a session cookie) and with an API key. One keep-alive client
asks about ``/printers/p3/api/v1/events`` ``--checks`` times (default 400), alternating
the cookie and the API key, as nginx's ``auth_request`` does: each answer must be 200.
Target: under 20 ms a check on average (the figure tests/hub/test_gate.py used to
assert; a loaded machine says nothing about it): well under the time of any password
hash, so no check hashes a password.

    python -m bench.hub_gate [--checks 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.api_keys import create_key
from hub.auth.rights import Grants
from hub.auth.signing import proxy_key, read_master_key
from hub.db import open_database
from tests.hub.conftest import login, printer_entry, start_hub_process

PASSWORD = "bench-gate-password"
TARGET_SECONDS = 0.02
URI = "/printers/p3/api/v1/events"


def measure(workdir: Path, checks: int) -> dict[str, Any]:
    nowhere = "http://127.0.0.1:9"
    fleet = {
        "printers": [
            printer_entry("p1", nowhere, groups=["lab"]),
            printer_entry("p2", nowhere),
            printer_entry("p3", nowhere, groups=["lab"]),
        ],
        "cameras": [],
    }
    hub = start_hub_process(workdir / "hub", fleet)
    try:
        db = open_database(hub.data_dir / "hub.sqlite", schemas())
        try:
            create_user(db, "bench", PASSWORD, "operator", Grants(groups=frozenset({"lab"})))
            key = create_key(db, "bench", "bench")[1]
        finally:
            db.close()
        session = login(hub.url, "bench", PASSWORD)
        nginx = {
            "X-Fabfleet-Proxy-Key": proxy_key(read_master_key(hub.gate_key_file)).hex(),
            "X-Fabfleet-Route": "printers/p3",
            "X-Fabfleet-Uri": URI,
            "X-Original-URI": URI,
            "X-Original-Method": "GET",
        }
        credentials = [
            {"Cookie": f"fabfleet_session={session.cookies['fabfleet_session']}"},
            {"X-Api-Key": key},
        ]
        seconds: list[float] = []
        with requests.Session() as client:
            for n in range(checks):
                headers = {**nginx, **credentials[n % 2]}
                started = time.perf_counter()
                answer = client.get(hub.url + "api/auth/check", headers=headers, timeout=30)
                seconds.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise SystemExit(f"check {n} refused: {answer.status_code} {answer.text}")
    finally:
        hub.stop()
    ordered = sorted(seconds)
    mean = statistics.fmean(seconds)
    return {
        "checks": checks,
        "mean_ms": 1000 * mean,
        "median_ms": 1000 * statistics.median(seconds),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_ms": 1000 * ordered[-1],
        "target_ms": 1000 * TARGET_SECONDS,
        "passed": mean < TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=400)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as workdir:
        result = measure(Path(workdir), args.checks)
    verdict = "PASS" if result["passed"] else "FAIL"
    print(
        f"gate check, {result['checks']} passing checks (cookie and API key alternately): "
        f"mean {result['mean_ms']:.1f} ms, median {result['median_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.1f} ms "
        f"(target: mean < {result['target_ms']:.0f} ms): {verdict}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
