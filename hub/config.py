"""The hub's settings: from the command line or ``FABFLEET_*`` variables."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:8090"
# Sessions end after this long without a request (seconds).
DEFAULT_SESSION_IDLE = 12 * 3600
# And after this long whatever happens.
DEFAULT_SESSION_MAX = 7 * 24 * 3600
# The proxy reaches the hub over the stack's private network (or loopback in the demo).
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


class ConfigError(Exception):
    """A setting that cannot work; the message says which and why."""


@dataclass(frozen=True, slots=True)
class HubConfig:
    data_dir: Path
    # hub/fleet.json as rendered by `fabfleet render` (or written by the demo).
    fleet_file: Path
    # The gate's master key (32+ random bytes, hex or raw); printers get keys derived from it.
    gate_key_file: Path
    listen: str = DEFAULT_LISTEN
    session_idle: int = DEFAULT_SESSION_IDLE
    session_max: int = DEFAULT_SESSION_MAX
    # Cookies marked Secure whatever the scheme (the proxy sets X-Forwarded-Proto anyway).
    secure_cookies: bool = False
    # Peers whose X-Forwarded-For is believed (the proxy): networks, comma-separated.
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES
    # A second listener that answers only the gate and trusts whoever reaches it as the
    # proxy (Traefik's forwardAuth in the k3s stack, which cannot send the proxy key):
    # the network must let only the proxy reach it (docs/kubernetes.md).
    gate_listen: str | None = None
    # Power devices' passwords and tokens, one 0600 file per secret name (docs/power.md);
    # unset: ``power`` next to the gate key.
    power_secrets: Path | None = None

    @property
    def power_secrets_dir(self) -> Path:
        return self.power_secrets or self.gate_key_file.parent / "power"

    @property
    def database(self) -> Path:
        return self.data_dir / "hub.sqlite"

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in self.trusted_proxies.split(",")
                if part.strip()
            )
        except ValueError as error:
            raise ConfigError(f"FABFLEET_TRUSTED_PROXIES: {error}") from None

    @property
    def unix_socket(self) -> str | None:
        """The socket's path when listening on ``unix:/PATH``: only the proxy reaches it."""
        if not self.listen.startswith("unix:"):
            return None
        path = self.listen.removeprefix("unix:")
        if not path.startswith("/"):
            raise ConfigError(f"listen address '{self.listen}': unix: needs an absolute path")
        return path

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.listen, "listen address")

    @property
    def gate_host_port(self) -> tuple[str, int] | None:
        if self.gate_listen is None:
            return None
        return host_port(self.gate_listen, "gate listen address")


def host_port(listen: str, what: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{what} '{listen}' is not HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{what} '{listen}': no such port")
    return host, number


def from_environment(**given: object) -> HubConfig:
    """Settings from keyword arguments, else ``FABFLEET_*`` variables, else defaults."""

    def pick(name: str, variable: str, default: str | None) -> str:
        value = given.get(name)
        if value is None:
            value = os.environ.get(variable, default)
        if value is None:
            raise ConfigError(f"--{name.replace('_', '-')} (or {variable}) is required")
        return str(value)

    def seconds(name: str, variable: str, default: int) -> int:
        text = pick(name, variable, str(default))
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{variable} must be whole seconds, not '{text}'") from None
        if value < 1:
            raise ConfigError(f"{variable} must be at least 1 second")
        return value

    data_dir = Path(pick("data_dir", "FABFLEET_DATA_DIR", None))
    idle = seconds("session_idle", "FABFLEET_SESSION_IDLE", DEFAULT_SESSION_IDLE)
    longest = seconds("session_max", "FABFLEET_SESSION_MAX", DEFAULT_SESSION_MAX)
    config = HubConfig(
        data_dir=data_dir,
        fleet_file=Path(pick("fleet_file", "FABFLEET_FLEET", str(data_dir / "fleet.json"))),
        gate_key_file=Path(
            pick("gate_key_file", "FABFLEET_GATE_KEY_FILE", str(data_dir / "gate.key"))
        ),
        listen=pick("listen", "FABFLEET_LISTEN", DEFAULT_LISTEN),
        secure_cookies=pick("secure_cookies", "FABFLEET_SECURE_COOKIES", "0") in ("1", "true"),
        session_idle=idle,
        session_max=longest,
        trusted_proxies=pick(
            "trusted_proxies", "FABFLEET_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES
        ),
    )
    power_secrets = pick("power_secrets", "FABFLEET_POWER_SECRETS", "").strip()
    if power_secrets:
        config = replace(config, power_secrets=Path(power_secrets))
    gate = pick("gate_listen", "FABFLEET_GATE_LISTEN", "").strip()
    if gate:
        config = replace(config, gate_listen=gate)
        gate_port = host_port(gate, "gate listen address")[1]
        if config.unix_socket is None and gate_port and gate_port == config.host_port[1]:
            raise ConfigError(f"gate listen address '{gate}': the hub listens on that port")
    if not config.proxy_networks and config.trusted_proxies.strip():
        raise ConfigError("FABFLEET_TRUSTED_PROXIES names no network")
    return config
