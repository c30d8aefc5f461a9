"""Every rendered file of a stack: one view per target, by the file name it is written to."""

from __future__ import annotations

from orchestrator.fleet.model import Fleet
from orchestrator.model import paths
from orchestrator.model.build import stack_of
from orchestrator.model.stack import Stack
from orchestrator.rendering import compose, nginx, udev
from orchestrator.rendering.hub_fleet import hub_fleet, render_hub_fleet, service_upstream
from orchestrator.rendering.nginx import render_nginx
from orchestrator.rendering.templates import environment, render_template

# Rendered file name → template, in the order they are reported. The proxy's and the
# hub's files sit in directories of their own, which the containers mount read-only:
# a file replaced by rename shows through a mounted directory at once (a mounted
# single file would keep showing the old one), so nginx reloads and the hub rereads
# without their containers being recreated.
RULES_FILE = "99-fabfleet.rules"
COMPOSE_FILE = "compose.yaml"
NGINX_FILE = f"{paths.PROXY_RENDERED}/nginx.conf"
HUB_FLEET = f"{paths.HUB_RENDERED}/fleet.json"
OUTPUTS = {
    RULES_FILE: udev.TEMPLATE,
    COMPOSE_FILE: compose.TEMPLATE,
    NGINX_FILE: nginx.TEMPLATE,
}
# Every file `render` writes, in the order they are reported.
RENDERED_FILES = (*OUTPUTS, HUB_FLEET)

__all__ = [
    "COMPOSE_FILE",
    "HUB_FLEET",
    "NGINX_FILE",
    "OUTPUTS",
    "RENDERED_FILES",
    "RULES_FILE",
    "environment",
    "hub_fleet",
    "render_files",
    "render_nginx",
    "render_stack",
    "render_template",
    "service_upstream",
]


def render_files(stack: Stack) -> dict[str, bytes]:
    """Every rendered file of ``stack``, by file name."""
    return {
        RULES_FILE: udev.render_udev(stack),
        COMPOSE_FILE: compose.render_compose(stack),
        NGINX_FILE: nginx.render_proxy(stack.proxy, nginx.ProxySettings(hub=stack.hub.address)),
        HUB_FLEET: render_hub_fleet(stack),
    }


def render_stack(fleet: Fleet, version: str) -> dict[str, bytes]:
    """Every rendered file of ``fleet``, by file name; images are tagged ``version``."""
    return render_files(stack_of(fleet, version))
