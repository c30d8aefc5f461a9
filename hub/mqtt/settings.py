"""``site.mqtt.publish`` as fleet.json carries it (checked by ``fabfleet render`` against the
fleet file's rules, read here again so a hand-written fleet.json fails clearly)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")
_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KEYS = {"enabled", "topic_prefix", "discovery_prefix", "discovery", "commands"}


class PublishSettingsError(ValueError):
    """A ``site.mqtt.publish`` the hub cannot use."""


@dataclass(frozen=True, slots=True)
class PublishSettings:
    topic_prefix: str = "fabfleet"
    discovery_prefix: str = "homeassistant"
    discovery: bool = True
    # Commands from the broker run as this hub user; None: publish only, no subscription.
    commands_as: str | None = None


def _flag(raw: dict[str, Any], name: str, default: bool, where: str) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise PublishSettingsError(f"{where}.{name} must be true or false")
    return value


def _prefix(raw: dict[str, Any], name: str, default: str, where: str) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise PublishSettingsError(f"{where}.{name} must be a topic prefix such as {default}")
    return value


def parse_publish(raw: Any, where: str = "site.mqtt.publish") -> PublishSettings | None:
    """The settings, or None when the hub publishes nothing (absent, or ``enabled: false``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PublishSettingsError(f"{where} must be an object")
    extra = set(raw) - _KEYS
    if extra:
        raise PublishSettingsError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    if not _flag(raw, "enabled", True, where):
        return None
    commands = raw.get("commands") or {}
    if not isinstance(commands, dict) or set(commands) - {"enabled", "as_user"}:
        raise PublishSettingsError(f"{where}.commands must be {{enabled, as_user}}")
    user = commands.get("as_user")
    as_user: str | None = None
    if _flag(commands, "enabled", False, f"{where}.commands"):
        if not isinstance(user, str) or not _USER.match(user):
            raise PublishSettingsError(f"{where}.commands.as_user must name a hub user")
        as_user = user
    settings = PublishSettings(
        topic_prefix=_prefix(raw, "topic_prefix", "fabfleet", where),
        discovery_prefix=_prefix(raw, "discovery_prefix", "homeassistant", where),
        discovery=_flag(raw, "discovery", True, where),
        commands_as=as_user,
    )
    if settings.topic_prefix == settings.discovery_prefix:
        raise PublishSettingsError(f"{where}: topic_prefix and discovery_prefix must differ")
    return settings
