"""The hub's queue page when the hub's disk is full: the refusal's sentence in the page, at
desktop and phone size, and queueing again once there is room."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.layout import both_sizes
from tests.browser.test_hub_queue import PASSWORD, SQUARE, log_in
from tests.hub.conftest import add_admin, start_hub_process
from tests.hub.test_queue_api import fleet
from tests.small_volume import fill, small_volume


def test_the_queue_page_says_the_hub_disk_is_full(tmp_path: Path, page: Page) -> None:
    with small_volume(tmp_path / "hub", 24) as volume:
        hub = start_hub_process(volume, fleet(), gate_key_file=tmp_path / "gate.key")
        try:
            add_admin(hub, "ada", PASSWORD)
            log_in(page, hub, "ada")
            filler = fill(volume)
            form = page.locator("#queue form")
            form.locator("input[name=file]").set_input_files(str(SQUARE))
            form.locator("button[type=submit]").click()
            message = page.locator(".queue-message")
            expect(message).to_contain_text("the hub's disk has 0 MB free")
            both_sizes(page, "hub-queue-disk-full")
            assert_accessible(page, "the queue page refusing a file on a full disk")

            filler.unlink()
            form.locator("input[name=file]").set_input_files(str(SQUARE))
            form.locator("button[type=submit]").click()
            expect(message).to_contain_text("Queued 1")
            expect(page.locator("#queue tbody tr[data-entry]")).to_have_count(1)
        finally:
            hub.stop()
