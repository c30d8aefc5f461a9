"""The toolpath preview on the printer's page: a real slicer file drawn, browsed layer by layer
with the keyboard, and followed while the simulated printer prints it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.web.server import GCODE, Served, running_server

pytestmark = pytest.mark.timeout(300)

CUBE = "cube_prusa_marlin2.gcode"  # 99 layers, 0.2 mm apart from Z 0.35 mm
# Pixels of the canvas that are not its background: something was drawn.
INKED = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0) inked++;
  return inked;
}"""
# Pixels in the "printed" colour (#d9480f), give or take antialiasing.
PRINTED = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && data[i] > 180 && data[i + 1] < 110 && data[i + 2] < 60) count++;
  }
  return count;
}"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """No API key (as behind the hub); 10 ms moves, so the cube prints a layer in about 2 s."""
    with running_server(tmp_path, key=None, sim_args=("--fault", "slow_planner:delay=0.01")) as s:
        yield s


def watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def layer_shown(page: Page) -> int:
    return int(page.locator("#preview").get_attribute("data-layer") or 0)


def test_a_selected_file_is_drawn_and_browsed_with_the_keyboard(served: Served, page: Page):
    problems = watch(page)
    answer = served.upload(CUBE, (GCODE / CUBE).read_bytes(), path="/api/v1/files", select="true")
    assert answer.status_code == 201, answer.text
    page.goto(served.url + "/")
    text = page.locator("#preview-layer-text")
    # Not printing: the whole part, its top layer over the faint layers below.
    expect(text).to_have_text("Layer 99 of 99 · Z 19.95 mm", timeout=30_000)
    expect(page.locator("#preview-file")).to_have_text(CUBE)
    assert ink(page) > 1000
    screenshot(page, "preview-01-top-layer")
    assert_accessible(page, "printer page with a preview")

    slider = page.get_by_label("Layer", exact=True)
    slider.focus()
    page.keyboard.press("Home")
    expect(text).to_have_text("Layer 1 of 99 · Z 0.35 mm")
    first_layer_ink = ink(page)
    assert first_layer_ink > 100
    page.keyboard.press("ArrowRight")
    expect(text).to_have_text("Layer 2 of 99 · Z 0.55 mm")
    assert layer_shown(page) == 2
    # The buttons are reachable by Tab and act on Enter.
    page.get_by_role("button", name="Layer above").focus()
    page.keyboard.press("Enter")
    expect(text).to_have_text("Layer 3 of 99 · Z 0.75 mm")
    page.get_by_role("button", name="Layer below").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(text).to_have_text("Layer 1 of 99 · Z 0.35 mm")

    # Travel moves are off by default; turned on, more is drawn.
    travel = page.get_by_label("Show travel moves")
    expect(travel).not_to_be_checked()
    assert draw_after(page, travel.check) > first_layer_ink
    travel.uncheck()

    # Zoomed in, the picture changes; "Fit" brings back the whole part as it was.
    whole = draw_after(page, lambda: None)
    zoomed = draw_after(page, page.get_by_role("button", name="Zoom in").click)
    assert zoomed != whole
    assert draw_after(page, page.get_by_role("button", name="Fit").click) == whole

    # Any stored file can be picked to be shown; "The printer's file" goes back.
    other = "cube_slic3r.gcode"  # 67 layers
    assert served.upload(other, (GCODE / other).read_bytes(), path="/api/v1/files").ok
    chooser = page.get_by_label("Show", exact=True)
    chooser.focus()
    expect(chooser.locator(f"option[value='{other}']")).to_have_count(1)
    chooser.select_option(other)
    expect(page.locator("#preview-file")).to_have_text(other)
    expect(text).to_have_text("Layer 67 of 67 · Z 20.15 mm")

    # A file that cannot be previewed says why, and no picture of another file stays.
    (served.files_dir / "blob.gcode").write_bytes(b"GCDE" + bytes(range(256)) * 64)
    page.locator("#preview-layer").focus()
    chooser.focus()
    expect(chooser.locator("option[value='blob.gcode']")).to_have_count(1)
    chooser.select_option("blob.gcode")
    expect(page.locator("#preview-status")).to_have_text(
        "No preview: blob.gcode cannot be previewed: binary G-code (.bgcode) is not supported;"
        " export plain G-code"
    )
    assert ink(page) == 0
    expect(text).to_have_text("No layers")
    chooser.select_option("")
    expect(page.locator("#preview-file")).to_have_text(CUBE)
    expect(text).to_have_text("Layer 99 of 99 · Z 19.95 mm")
    # The browser's own note of the refused request is the only message.
    assert problems == [
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]


def draw_after(page: Page, act: Callable[[], None]) -> int:
    """The canvas' inked pixels once ``act`` has been drawn."""
    act()
    return ink(page)


def ink(page: Page, count: str = INKED) -> int:
    """The canvas' pixels ``count`` counts once what was asked of it is drawn (it draws in the
    next animation frame; the text under it changes at once)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")
    counted: int = page.evaluate(count, "preview")
    return counted


def test_a_print_is_followed_layer_by_layer(served: Served, page: Page):
    problems = watch(page)
    page.goto(served.url + "/")
    expect(page.locator("#preview-status")).to_have_text("Select a file to see its layers.")
    answer = served.upload(CUBE, (GCODE / CUBE).read_bytes(), path="/api/v1/files", print="true")
    assert answer.status_code == 201, answer.text
    text = page.locator("#preview-layer-text")
    # The layer the printer is on, shown and followed, with the part done in its own colour.
    expect(text).to_contain_text("· printing", timeout=60_000)
    first = layer_shown(page)
    page.wait_for_function(
        f"() => Number(document.getElementById('preview').dataset.layer) > {first}",
        timeout=60_000,
    )
    assert ink(page, PRINTED) > 0
    # The snapshot says the same layer and its Z.
    job = served.get("/api/v1/printer").json()["job"]
    assert job["layer_count"] == 99
    assert job["layer"] >= 1
    assert job["z"] == pytest.approx(0.35 + (job["layer"] - 1) * 0.2, abs=1e-6)
    screenshot(page, "preview-02-printing")

    # Looking at another layer stops following; the box brings it back.
    page.get_by_label("Layer", exact=True).focus()
    page.keyboard.press("Home")
    expect(page.get_by_label("Follow the print")).not_to_be_checked()
    expect(text).to_contain_text("Layer 1 of 99")
    page.get_by_label("Follow the print").check()
    expect(text).to_contain_text("· printing")

    # Once the job has ended the layer stays, no longer said to be printing.
    assert served.post("/api/v1/job/cancel").status_code == 202
    expect(text).not_to_contain_text("printing", timeout=30_000)
    expect(text).to_contain_text("of 99")
    assert problems == []


def test_the_preview_fits_a_phone(served: Served, browser: Browser):
    served.upload(CUBE, (GCODE / CUBE).read_bytes(), path="/api/v1/files", select="true")
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(served.url + "/")
        expect(page.locator("#preview-layer-text")).to_have_text(
            "Layer 99 of 99 · Z 19.95 mm", timeout=30_000
        )
        page.locator("#preview-panel").scroll_into_view_if_needed()
        assert ink(page) > 1000
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360
        box = page.locator("#preview").bounding_box()
        assert box is not None and box["width"] <= 360
        screenshot(page, "preview-03-phone")
        page.locator("#preview-panel").screenshot(path=str(ARTIFACTS / "preview-04-phone-box.png"))
        assert_accessible(page, "printer page with a preview, phone")
    finally:
        context.close()
    assert errors == []
