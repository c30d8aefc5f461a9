"""The pages in a real browser: load figures through nginx, and CPU under a 100-printer fleet.

1. **Loads** (the demo stack: nginx, hub, one simulated printer, as
   ``fabfleet demo`` runs it; headless Chromium logged in as the admin): the
   printer's page and the hub's dashboard, ``--runs`` times each in a fresh
   browser context (cold cache), then once more reloaded (warm cache): first
   paint and first contentful paint (``performance.getEntriesByType('paint')``),
   DOMContentLoaded, "interactive" (the later of DOMContentLoaded and the first
   live state shown: the printer page's link says "live", the dashboard shows a
   card), and the page weight (``transferSize`` of the navigation and every
   resource; WebSocket frames are not counted).
2. **Fleet CPU**: ``--printers`` stand-in print servers in one process
   (bench/fake_fleet.py, a state event a printer a second, all printing), one
   ``fabfleet-hub serve`` following them, a headless Chromium on the dashboard,
   then on the camera wall (every printer has a camera; the browser gets a
   640x480 JPEG for each snapshot from the bench, no camera server): over
   ``--window`` seconds, the tab's main-thread time (CDP ``Performance.getMetrics``
   TaskDuration and ScriptDuration) and the hub's CPU (psutil), as % of one core.

    python -m bench.pages [--runs 5] [--printers 100] [--window 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Route, sync_playwright

from bench import fake_fleet
from bench.hub_dashboard import PASSWORD, Fleet
from orchestrator.stack.secrets import Owner, ensure_secrets
from tests.browser.conftest import FLAGS, chromium
from tests.browser.site import DESKTOP, SiteClient, running_site
from tests.hub.conftest import printer_entry

BIN = Path(sys.executable).parent

# Set before any page script runs: notes (performance.now()) when `ready` first holds.
READY_WATCH = """(() => {
  const ready = () => { try { return Boolean(%s); } catch (error) { return false; } };
  const note = () => {
    if (window.__ready === undefined && ready()) {
      window.__ready = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(note);
  observer.observe(document, { subtree: true, childList: true, characterData: true,
                               attributes: true });
})()"""
PRINTER_LIVE = "document.querySelector('#link').textContent.trim() === 'live'"
DASHBOARD_LIVE = "document.querySelector('[data-printer]')"

FIGURES = """() => {
  const paint = Object.fromEntries(performance.getEntriesByType('paint')
    .map((entry) => [entry.name, entry.startTime]));
  const navigation = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const bytes = resources.reduce((sum, r) => sum + r.transferSize, navigation.transferSize);
  return {
    first_paint_ms: paint['first-paint'] ?? null,
    first_contentful_paint_ms: paint['first-contentful-paint'] ?? null,
    dom_content_loaded_ms: navigation.domContentLoadedEventEnd,
    interactive_ms: Math.max(navigation.domContentLoadedEventEnd, window.__ready ?? Infinity),
    weight_kb: bytes / 1024,
    requests: resources.length + 1,
  };
}"""


def measure(page: Page, url: str) -> dict[str, float | None]:
    page.goto(url)
    page.wait_for_function("window.__ready !== undefined", timeout=30_000)
    page.wait_for_load_state("load")
    figures: dict[str, float | None] = page.evaluate(FIGURES)
    return figures


def loads(browser: Browser, runs: int) -> dict[str, Any]:
    """Cold and warm loads of the printer page and the dashboard through nginx."""
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="fabfleet-bench-pages-") as temporary,
        running_site(Path(temporary), 1) as site,
    ):
        client = SiteClient(site)
        pages = {
            "printer page": (f"{site.url}/printers/{site.printers[0]}/", PRINTER_LIVE),
            "dashboard": (f"{site.url}/", DASHBOARD_LIVE),
        }
        for name, (url, ready) in pages.items():
            cold, warm = [], []
            for _ in range(runs):
                context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
                context.add_cookies(client.browser_cookies())
                context.add_init_script(READY_WATCH % ready)
                page = context.new_page()
                cold.append(measure(page, url))
                warm.append(measure(page, url))
                context.close()
            results[name] = {"cold": summary(cold), "warm": summary(warm)}
    return results


def summary(samples: list[dict[str, float | None]]) -> dict[str, dict[str, float] | None]:
    """Per figure: median, min and max over the runs that have it (a reload may not paint)."""
    result: dict[str, dict[str, float] | None] = {}
    for key in samples[0]:
        values = [value for s in samples if (value := s[key]) is not None]
        result[key] = (
            {
                "median": round(statistics.median(values), 1),
                "min": round(min(values), 1),
                "max": round(max(values), 1),
                "runs": len(values),
            }
            if values
            else None
        )
    return result


@contextmanager
def stand_in_fleet(count: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The fake fleet and a hub following it: (the hub's URL, its process)."""
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-fleet-") as temporary:
        workdir = Path(temporary)
        processes = Fleet(workdir)  # bench/hub_dashboard.py's: starts and stops processes
        try:
            base = fake_fleet.start(processes.spawn, count, workdir / "fleet.log")
            names = [f"bench-{i}" for i in range(1, count + 1)]
            ensure_secrets(workdir, [], Owner(os.getuid(), os.getgid()))
            entries = [
                printer_entry(name, f"{base}/p/{name}", camera=f"cam-{name}") for name in names
            ]
            cameras = [
                {"name": f"cam-{name}", "path": f"/cameras/cam-{name}/", "upstream": "x"}
                for name in names
            ]
            url, hub = processes.start_hub({"printers": entries, "cameras": cameras})
            yield url, hub
        finally:
            processes.stop()


def camera_picture(browser: Browser) -> bytes:
    """A 640x480 JPEG (what a webcam's snapshot weighs), drawn by the browser itself."""
    page = browser.new_page(viewport={"width": 640, "height": 480})
    page.set_content(
        "<body style='margin:0;background:linear-gradient(135deg,#345,#c96 60%,#eee)'>"
        "<h1 style='font:bold 80px sans-serif;color:#fff;padding:150px 60px'>camera</h1>"
    )
    picture = page.screenshot(type="jpeg", quality=80)
    page.close()
    return picture


def tab_seconds(session: CDPSession) -> dict[str, float]:
    """The tab's main-thread seconds so far (counted since ``Performance.enable``)."""
    metrics = session.send("Performance.getMetrics")["metrics"]
    wanted = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    return {m["name"]: float(m["value"]) for m in metrics if m["name"] in wanted}


def chromium_seconds() -> dict[str, float]:
    """CPU seconds so far of the browser's renderers and of all its processes (psutil)."""
    spent = {"renderer": 0.0, "chromium": 0.0}
    for process in psutil.Process().children(recursive=True):
        try:
            command = process.cmdline()
            times = process.cpu_times()
        except psutil.Error:
            continue
        if not command or "chrom" not in command[0]:
            continue
        seconds = times.user + times.system
        spent["chromium"] += seconds
        if "--type=renderer" in command:
            spent["renderer"] += seconds
    return spent


def window_cpu(
    page: Page, context: BrowserContext, hub: psutil.Process, seconds: float
) -> dict[str, float]:
    """The tab's main-thread time and the hub's CPU over ``seconds``, as % of one core."""
    session = context.new_cdp_session(page)
    session.send("Performance.enable")
    before_tab, before_hub = tab_seconds(session), hub.cpu_times()
    before_browser = chromium_seconds()
    started = time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    spent = time.monotonic() - started
    after_tab, after_hub = tab_seconds(session), hub.cpu_times()
    after_browser = chromium_seconds()
    session.detach()
    figures = {
        f"tab_{key}_percent": 100 * (after_tab[key] - before_tab[key]) / spent for key in after_tab
    }
    for key, seconds in after_browser.items():
        figures[f"{key}_cpu_percent"] = 100 * (seconds - before_browser[key]) / spent
    hub_seconds = (after_hub.user + after_hub.system) - (before_hub.user + before_hub.system)
    figures["hub_cpu_percent"] = 100 * hub_seconds / spent
    return {key: round(value, 1) for key, value in figures.items()}


def fleet_cpu(browser: Browser, count: int, window: float) -> dict[str, Any]:
    picture = camera_picture(browser)

    def camera(route: Route) -> None:
        route.fulfill(status=200, content_type="image/jpeg", body=picture)

    with stand_in_fleet(count) as (url, hub_process):
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        context.route("**/cameras/*/snapshot*", camera)
        page = context.new_page()
        answer = page.request.post(
            url + "api/login", data={"username": "bench", "password": PASSWORD}
        )
        assert answer.status == 200, answer.text()
        page.goto(url)
        page.wait_for_function(
            f"document.querySelectorAll('[data-state=\"printing\"]').length >= {count}",
            timeout=120_000,
        )
        hub = psutil.Process(hub_process.pid)
        page.wait_for_timeout(3000)  # settle
        results = {"dashboard": window_cpu(page, context, hub, window)}
        page.get_by_role("button", name="Cameras").click()
        page.wait_for_function(
            f"document.querySelectorAll('.wall-tile img').length >= {count}", timeout=30_000
        )
        page.wait_for_timeout(3000)
        results["camera wall"] = window_cpu(page, context, hub, window)
        context.close()
    return {"printers": count, "window_s": window, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--skip-loads", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        if not arguments.skip_loads:
            results["loads"] = loads(browser, arguments.runs)
            for name, kinds in results["loads"].items():
                for kind, figures in kinds.items():
                    said = ", ".join(
                        f"{key} {f['median']} ({f['min']} to {f['max']}, {f['runs']} runs)"
                        for key, f in figures.items()
                        if f is not None
                    )
                    print(f"{name}, {kind} cache: {said}", flush=True)
        if not arguments.skip_fleet:
            results["fleet"] = fleet_cpu(browser, arguments.printers, arguments.window)
            fleet = results["fleet"]
            for view in ("dashboard", "camera wall"):
                said = ", ".join(f"{key} {value}" for key, value in fleet[view].items())
                print(f"{fleet['printers']} printers, {view}: {said}", flush=True)
        browser.close()
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
