"""The udev view: one rule per link of the stack's printers and cameras (99-fabfleet.rules)."""

from __future__ import annotations

from orchestrator.model.build import UDEV_PROPERTY
from orchestrator.model.stack import Stack
from orchestrator.rendering.templates import render_template

TEMPLATE = "99-fabfleet.rules.j2"


def render_udev(stack: Stack) -> bytes:
    """The udev rules of ``stack``; a printer without a link gets a comment saying why."""
    context = {"printers": stack.printers, "cameras": stack.cameras, "udev_property": UDEV_PROPERTY}
    return render_template(TEMPLATE, context).encode("utf-8")
