"""The Docker Compose view: every service of the stack, its networks and data volumes."""

from __future__ import annotations

from orchestrator.model.stack import Stack
from orchestrator.rendering.templates import render_template

TEMPLATE = "compose.yaml.j2"


def render_compose(stack: Stack) -> bytes:
    """The compose file of ``stack`` (paths relative to the state directory it is written to)."""
    return render_template(TEMPLATE, {"stack": stack}).encode("utf-8")
