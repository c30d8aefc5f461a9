"""Rendering the udev rules, compose file and nginx config of a fleet from jinja2 templates."""

from __future__ import annotations

import json
from collections.abc import Callable

import jinja2

from orchestrator.fleet.model import Fleet, Printer, PrinterProfile, Site
from orchestrator.rendering.context import SERVICE_PORT, ProxySettings, stack_context
from orchestrator.shipped import shipped

# Rendered file name → template, in the order they are reported. The proxy's and the
# hub's files sit in directories of their own, which the containers mount read-only:
# a file replaced by rename shows through a mounted directory at once (a mounted
# single file would keep showing the old one), so nginx reloads and the hub rereads
# without their containers being recreated.
OUTPUTS = {
    "99-fabfleet.rules": "99-fabfleet.rules.j2",
    "compose.yaml": "compose.yaml.j2",
    "proxy/nginx.conf": "nginx.conf.j2",
}
HUB_FLEET = "hub/fleet.json"
# Every file `render` writes, in the order they are reported.
RENDERED_FILES = (*OUTPUTS, HUB_FLEET)


def service_upstream(service: str) -> str:
    """A service's URL on the stack's internal network."""
    return f"http://{service}:{SERVICE_PORT}"


def _quoted(value: object) -> str:
    # A JSON string is a valid YAML double-quoted scalar, whatever it contains.
    return json.dumps(str(value))


def environment() -> jinja2.Environment:
    """Templates from the package; an undefined variable is an error, never empty text."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([shipped("udev"), shipped("compose")]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = _quoted
    return env


def render_template(name: str, context: dict[str, object]) -> str:
    """One template rendered with ``context``."""
    return environment().get_template(name).render(context)


def _profile(printer: Printer) -> dict[str, object]:
    profile = printer.profile or PrinterProfile()
    bed = None if profile.bed is None else profile.bed.model_dump(mode="json")
    return {"materials": list(profile.materials), "nozzle": profile.nozzle, "bed": bed}


def hub_fleet(fleet: Fleet, upstream: Callable[[str], str] = service_upstream) -> bytes:
    """What the hub is told about the fleet (format in docs/hub.md): each printer and camera,
    where the proxy serves it, where the hub itself reaches it, and what a printer can print.
    ``upstream(service)`` is the URL of a service (``printer-mk3``, ``camera-c920``)."""
    printers = [
        {
            "name": p.name,
            "path": f"/printers/{p.name}/",
            "upstream": upstream(f"printer-{p.name}"),
            "camera": p.camera,
            "groups": list(p.groups),
            "tags": list(p.profile.tags) if p.profile else [],
            "profile": _profile(p),
        }
        for p in fleet.printers
    ]
    cameras = [
        {"name": c.name, "path": f"/cameras/{c.name}/", "upstream": upstream(f"camera-{c.name}")}
        for c in fleet.cameras
    ]
    site = {"max_heating": fleet.site.max_heating}
    text = json.dumps({"site": site, "printers": printers, "cameras": cameras}, indent=2)
    return (text + "\n").encode("utf-8")


def render_nginx(
    site: Site, printers: dict[str, str], cameras: dict[str, str], proxy: ProxySettings
) -> bytes:
    """The proxy's config from the stack's own template, for upstreams given as host:port
    by name (``fabfleet demo``: print servers, cameras and the hub on 127.0.0.1)."""
    context = {
        "site": site,
        "printers": [{"name": n, "upstream": u} for n, u in printers.items()],
        "cameras": [{"name": n, "upstream": u} for n, u in cameras.items()],
        "proxy": proxy,
    }
    return render_template(OUTPUTS["proxy/nginx.conf"], context).encode("utf-8")


def render_stack(fleet: Fleet, version: str) -> dict[str, bytes]:
    """Every rendered file of ``fleet``, by file name; images are tagged ``version``."""
    context = stack_context(fleet, version)
    files = {out: render_template(t, context).encode("utf-8") for out, t in OUTPUTS.items()}
    files[HUB_FLEET] = hub_fleet(fleet)
    return files
