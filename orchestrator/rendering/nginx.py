"""The nginx view: the proxy's whole config, from the model's proxy and its routes.

The stack and `fabfleet demo` render the same template, each with its own
:class:`ProxySettings` (where the hub is, how names resolve, where nginx listens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from orchestrator.fleet.model import Site
from orchestrator.model import paths
from orchestrator.model.build import proxy_of
from orchestrator.model.stack import Proxy, Route
from orchestrator.rendering.templates import render_template

TEMPLATE = "nginx.conf.j2"
# Docker's embedded DNS, for nginx's per-request upstreams.
DOCKER_RESOLVER = "127.0.0.11 valid=10s ipv6=off"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What the nginx template needs beyond the model: where the hub is (host:port), how
    nginx resolves names, where it listens and keeps its scratch files. The stack and
    `fabfleet demo` render the same template with their own settings."""

    hub: str
    resolver: str | None = DOCKER_RESOLVER
    resolver_why: str = "Docker's embedded DNS, for the per-request upstreams."
    # "127.0.0.1:" to listen on loopback only; "" for every address.
    listen_host: str = ""
    scratch: str = "/tmp"
    access_log: str = "/dev/stdout"
    # The include that sets X-Fabfleet-Proxy-Key (orchestrator/stack/secrets.py writes it).
    gate_key_conf: str = paths.PROXY_KEY


STACK_PROXY = ProxySettings(hub=paths.service_address("hub"))


def render_proxy(proxy: Proxy, settings: ProxySettings = STACK_PROXY) -> bytes:
    """The nginx config of ``proxy``: the hub at /, each route behind the hub's gate."""
    return render_template(TEMPLATE, {"front": proxy, "proxy": settings}).encode("utf-8")


def _routes(kind: Literal["printer", "camera"], upstreams: Mapping[str, str]) -> tuple[Route, ...]:
    # The addresses are nginx's to read (host:port, unix:PATH:): passed on as they are.
    return tuple(Route(kind, n, f"/{kind}s/{n}/", u, None) for n, u in upstreams.items())


def render_nginx(
    site: Site, printers: Mapping[str, str], cameras: Mapping[str, str], proxy: ProxySettings
) -> bytes:
    """The proxy's config from the stack's own template, for upstreams given as host:port
    by name (``fabfleet demo``: print servers, cameras and the hub on 127.0.0.1)."""
    routes = _routes("printer", printers) + _routes("camera", cameras)
    return render_proxy(proxy_of(site, routes), proxy)
