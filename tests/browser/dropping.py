"""Dropping a file on the printer page's upload box, as a person drags one from a file manager."""

from __future__ import annotations

from playwright.sync_api import Page

_DROP = """([name, text]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], name));
    const target = document.querySelector('#drop');
    target.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true}));
    target.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
}"""


def drop_file(page: Page, name: str, text: str) -> None:
    """Drop a file called ``name`` holding ``text`` on the page's ``#drop`` box."""
    page.evaluate(_DROP, [name, text])
