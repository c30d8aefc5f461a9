"""Page-update latency in a real browser: from a printer change to the page showing it.

A print server (``fabfleet-instance serve``) runs on a simulated printer; Debian's
Chromium shows its page. For each sample the bench asks the server for a new
hotend target and times, on the same clock, how long until the page's heater
table shows it: HTTP request, the printer service, the WebSocket ``state``
message, the page's rendering. Target: p95 under 250 ms.

    python -m bench.page_update [--samples 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.conftest import FLAGS, chromium
from tests.web.server import running_server

# Notes in window.seenAt the moment the heater table first shows the target.
WATCH = """(target) => {
    window.seenAt = null;
    const heaters = document.querySelector('#heaters');
    const seen = () => heaters.textContent.includes(`/ ${target} °C`);
    new MutationObserver((_, observer) => {
        if (seen()) { observer.disconnect(); window.seenAt = Date.now(); }
    }).observe(heaters, {childList: true, subtree: true, characterData: true});
}"""


@dataclass(frozen=True, slots=True)
class PageUpdate:
    samples: int
    median_ms: float
    p95_ms: float
    max_ms: float


def measure(samples: int) -> PageUpdate:
    latencies: list[float] = []
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_server(Path(workdir), key=None) as served,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelector('#link').textContent === 'live'")
        for index in range(samples):
            target = 150 + index  # a new value every time
            page.evaluate(WATCH, target)
            started = time.time()
            answer = served.post("/api/v1/control/temperature", json={"hotend": target})
            answer.raise_for_status()
            page.wait_for_function("() => window.seenAt !== null", timeout=10_000)
            seen_at_ms = float(page.evaluate("() => window.seenAt"))
            latencies.append(seen_at_ms - started * 1000)
            time.sleep(0.1)
        browser.close()
    ordered = sorted(latencies)
    return PageUpdate(
        samples=len(ordered),
        median_ms=round(statistics.median(ordered), 1),
        p95_ms=round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        max_ms=round(ordered[-1], 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    result = measure(arguments.samples)
    print(
        f"page update, printer change to page shown ({result.samples} samples): "
        f"median {result.median_ms} ms, p95 {result.p95_ms} ms, max {result.max_ms} ms"
    )
    if arguments.json:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")


if __name__ == "__main__":
    main()
