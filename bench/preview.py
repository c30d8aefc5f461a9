"""The toolpath preview of a 12 MB file: server-side build, bytes sent, first draw, frame time.

A 12 MB file is made of the fixtures' real slicer output printed one after
another (``tests/big_gcode.py``). Measured, over several runs each:

- **build**: ``build_toolpath`` + ``encode`` in this process (the print server
  runs the same in a niced process of its own), and the first
  ``GET /api/v1/files/{name}/toolpath`` of a fresh server (the whole path: the
  worker process, the gzip, the answer);
- **bytes**: the preview packed and as sent (gzipped), against the file;
- **first draw** in Chromium (Playwright, a fresh browser context each run, so
  nothing is cached): the time one draw takes (``performance.now()`` around it,
  the canvas' ``data-first-draw-ms``) and from the request to drawn pixels
  (``data-load-to-draw-ms``);
- **frame time while printing**: the file prints on the simulator (moves take
  no time, so layers pass quickly); every draw's duration and the intervals
  between animation frames (``requestAnimationFrame`` deltas) for a few seconds.

``--cpu-throttle N`` slows Chromium's CPU N times (DevTools' emulation) to
approximate a Raspberry Pi's browser on a desktop machine.

    python -m bench.preview [--runs 5] [--cpu-throttle 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from instance.analysis.toolpath import build_toolpath, encode
from tests.big_gcode import write_big_gcode
from tests.browser.conftest import FLAGS, chromium
from tests.web.server import running_server

SIZE = 12 * 1024 * 1024
NAME = "big.gcode"
# Every draw's duration and every animation frame's interval, for `seconds`.
SAMPLE_FRAMES = """(seconds) => new Promise((done) => {
  const canvas = document.getElementById("preview");
  const draws = [], frames = [];
  new MutationObserver(() => draws.push(Number(canvas.dataset.drawMs)))
    .observe(canvas, {attributes: true, attributeFilter: ["data-draws"]});
  let last = performance.now();
  const end = last + seconds * 1000;
  const tick = (now) => {
    frames.push(now - last);
    last = now;
    if (now < end) requestAnimationFrame(tick);
    else done({draws, frames, layer: Number(canvas.dataset.layer)});
  };
  requestAnimationFrame(tick);
})"""


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        median = statistics.median(values)
        return cls(round(median, 2), round(min(values), 2), round(max(values), 2))

    def __str__(self) -> str:
        return f"{self.median} (range {self.low} to {self.high})"


@dataclass(frozen=True, slots=True)
class PreviewBench:
    file_bytes: int
    layers: int
    points: int
    packed_bytes: int
    sent_bytes: int
    build_s: Spread
    first_request_s: Spread
    first_draw_ms: Spread
    request_to_pixels_ms: Spread
    draw_while_printing_ms: Spread
    draw_while_printing_p95_ms: float
    frame_interval_p95_ms: float
    draws_while_printing: int
    layers_passed: int
    cpu_throttle: float


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2) if ordered else 0.0


def build_times(path: Path, runs: int) -> tuple[list[float], int, int, int]:
    times: list[float] = []
    layers = points = packed = 0
    for _ in range(runs):
        started = time.perf_counter()
        toolpath = build_toolpath(path)
        packed = len(encode(toolpath))
        times.append(time.perf_counter() - started)
        layers, points = len(toolpath.layers), toolpath.point_count
    return times, layers, points, packed


@contextlib.contextmanager
def drawn_page(browser: Browser, url: str, throttle: float) -> Iterator[Page]:
    """The printer's page in a fresh context (nothing cached), once the preview is drawn."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        if throttle > 1:
            session = context.new_cdp_session(page)
            session.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        page.goto(url + "/")
        page.wait_for_function(
            "() => document.getElementById('preview').dataset.firstDrawMs !== undefined",
            timeout=120_000,
        )
        yield page
    finally:
        context.close()


def first_draw(browser: Browser, url: str, throttle: float) -> tuple[float, float]:
    with drawn_page(browser, url, throttle) as page:
        data: dict[str, Any] = page.evaluate(
            "() => ({...document.getElementById('preview').dataset})"
        )
        return float(data["firstDrawMs"]), float(data["loadToDrawMs"])


def measure(runs: int, throttle: float, seconds: float) -> PreviewBench:
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        source = Path(workdir) / NAME
        size = write_big_gcode(source, SIZE)
        builds, layers, points, packed = build_times(source, runs)
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        requests_s: list[float] = []
        draws_ms: list[float] = []
        to_pixels_ms: list[float] = []
        sent = 0
        frame: dict[str, Any] = {}
        # A fresh server (no preview yet) for each cold request; the browser runs reuse the last.
        for run in range(max(1, runs // 2)):
            place = Path(workdir) / f"server-{run}"
            place.mkdir()
            with running_server(place, key=None) as served:
                content = source.read_bytes()
                answer = served.upload(NAME, content, path="/api/v1/files", select="true")
                answer.raise_for_status()
                started = time.perf_counter()
                response = served.get(f"/api/v1/files/{NAME}/toolpath")
                requests_s.append(time.perf_counter() - started)
                response.raise_for_status()
                sent = int(response.headers["Content-Length"])
                if run == max(1, runs // 2) - 1:
                    for _ in range(runs):
                        draw, pixels = first_draw(browser, served.url, throttle)
                        draws_ms.append(draw)
                        to_pixels_ms.append(pixels)
                    frame = frames_while_printing(browser, served, throttle, seconds)
        browser.close()
    return PreviewBench(
        file_bytes=size,
        layers=layers,
        points=points,
        packed_bytes=packed,
        sent_bytes=sent,
        build_s=Spread.of(builds),
        first_request_s=Spread.of(requests_s),
        first_draw_ms=Spread.of(draws_ms),
        request_to_pixels_ms=Spread.of(to_pixels_ms),
        draw_while_printing_ms=Spread.of(frame["draws"] or [0.0]),
        draw_while_printing_p95_ms=p95(frame["draws"]),
        frame_interval_p95_ms=p95(frame["frames"][1:]),
        draws_while_printing=len(frame["draws"]),
        layers_passed=frame["layers_passed"],
        cpu_throttle=throttle,
    )


def frames_while_printing(
    browser: Browser, served: Any, throttle: float, seconds: float
) -> dict[str, Any]:
    with drawn_page(browser, served.url, throttle) as page:
        served.post("/api/v1/job", json={"file": NAME}).raise_for_status()
        page.wait_for_function(
            "() => document.getElementById('preview-layer-text').textContent.includes('printing')",
            timeout=120_000,
        )
        start_layer = int(page.locator("#preview").get_attribute("data-layer") or 0)
        sample: dict[str, Any] = page.evaluate(SAMPLE_FRAMES, seconds)
        served.post("/api/v1/job/cancel")
        sample["layers_passed"] = int(sample["layer"]) - start_layer
        return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu-throttle", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="sampling while printing")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    result = measure(arguments.runs, arguments.cpu_throttle, arguments.seconds)
    mb = 1024 * 1024
    print(f"file: {result.file_bytes / mb:.1f} MB, {result.layers} layers, {result.points} points")
    print(
        f"preview: {result.packed_bytes / 1024:.0f} KB packed,"
        f" {result.sent_bytes / 1024:.0f} KB sent"
        f" ({result.sent_bytes / result.file_bytes:.2%} of the file)"
    )
    print(f"build in process: {result.build_s} s; first request, cold: {result.first_request_s} s")
    print(
        f"first draw (CPU throttle {result.cpu_throttle}x): {result.first_draw_ms} ms;"
        f" request to pixels {result.request_to_pixels_ms} ms"
    )
    print(
        f"while printing: {result.draws_while_printing} draws over {result.layers_passed} layers,"
        f" each {result.draw_while_printing_ms} ms (p95 {result.draw_while_printing_p95_ms} ms);"
        f" frame interval p95 {result.frame_interval_p95_ms} ms"
    )
    if arguments.json:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")


if __name__ == "__main__":
    main()
