"""Power devices in the fleet file: ``printers[].power``, ``cameras[].power``, ``site.power``
and ``site.mqtt`` with its ``publish`` block (docs/power.md, docs/mqtt.md, docs/fleet-file.md).

A device names its secret (``secret: plug-mk3``); the password or token itself is the file
``<state_dir>/secrets/power/<name>`` (mode 0600), never the fleet file.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

_MODEL = ConfigDict(extra="forbid", frozen=True, strict=True)
_SECRET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_ENTITY = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")
_TOPIC_CHARS = re.compile(r"^[^#+\x00]{1,200}$")
_HUB_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")


def _check_secret(value: str) -> str:
    if not _SECRET.match(value):
        raise PydanticCustomError(
            "fleet_secret",
            "'{value}' is not a secret name; use letters, digits, '.', '_' and '-' (the value "
            "goes in the file secrets/power/<name> of the state directory, mode 0600)",
            {"value": value},
        )
    return value


def _check_host(value: str) -> str:
    if not _HOST.match(value):
        raise PydanticCustomError(
            "fleet_power_host",
            "'{value}' is not a host; write a name or address, optionally with :port "
            "(e.g. 192.168.1.40 or plug-mk3.lan:80)",
            {"value": value},
        )
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "fleet_power_url", "'{value}' is not an http:// or https:// URL", {"value": value}
        )
    if parts.password:
        raise PydanticCustomError(
            "fleet_power_url",
            "'{value}' carries a password; name a secret instead (secret: <name>)",
            {"value": value},
        )
    return value


def _check_entity(value: str) -> str:
    if not _ENTITY.match(value):
        raise PydanticCustomError(
            "fleet_entity",
            "'{value}' is not a Home Assistant entity id; write domain.object_id, "
            "e.g. switch.printer_3",
            {"value": value},
        )
    return value


def _check_topic(value: str) -> str:
    if not _TOPIC_CHARS.match(value):
        raise PydanticCustomError(
            "fleet_topic",
            "'{value}' is not an MQTT topic to publish or follow (no '+' or '#' wildcards)",
            {"value": value},
        )
    return value


def _check_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise PydanticCustomError(
            "fleet_pattern",
            "'{value}' is not a regular expression: {error}",
            {"value": value, "error": str(error)},
        ) from None
    return value


def _quoted_word(value: object) -> object:
    # YAML reads unquoted ON/OFF/yes/no as true/false: the device's word must be quoted.
    if isinstance(value, bool):
        raise PydanticCustomError(
            "fleet_payload",
            'YAML read this as {value}; quote the word, e.g. "ON" or "OFF"',
            {"value": str(value).lower()},
        )
    return value


SecretName = Annotated[str, AfterValidator(_check_secret)]
Host = Annotated[str, AfterValidator(_check_host)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
EntityId = Annotated[str, AfterValidator(_check_entity)]
Topic = Annotated[str, AfterValidator(_check_topic)]
Pattern = Annotated[str, Field(min_length=1), AfterValidator(_check_pattern)]
Word = Annotated[str, BeforeValidator(_quoted_word), Field(min_length=1, max_length=64)]
Payload = Annotated[str, BeforeValidator(_quoted_word), Field(max_length=64)]
UserName = Annotated[str, Field(min_length=1, max_length=64)]


class _Device(BaseModel):
    model_config = _MODEL

    # After a job, switch off once idle and cooled (printers only).
    auto_off: bool = True


class TasmotaPower(_Device):
    type: Literal["tasmota"]
    host: Host
    # Power<output>, 1-based.
    output: Annotated[int, Field(ge=1, le=32)] = 1
    user: UserName = "admin"
    secret: SecretName | None = None


class Shelly1Power(_Device):
    type: Literal["shelly1"]
    host: Host
    # /relay/<relay>, 0-based.
    relay: Annotated[int, Field(ge=0, le=15)] = 0
    user: UserName = "admin"
    secret: SecretName | None = None


class Shelly2Power(_Device):
    type: Literal["shelly2"]
    host: Host
    # The Switch component's id, 0-based.
    relay: Annotated[int, Field(ge=0, le=15)] = 0
    secret: SecretName | None = None


class HomeAssistantPower(_Device):
    type: Literal["homeassistant"]
    url: HttpUrl
    entity_id: EntityId
    # The long-lived access token.
    secret: SecretName


class MqttPower(_Device):
    type: Literal["mqtt"]
    # A Tasmota topic: cmnd/<topic>/POWER, stat/<topic>/POWER, tele/<topic>/LWT.
    topic: Topic | None = None
    output: Annotated[int, Field(ge=1, le=32)] = 1
    command_topic: Topic | None = None
    state_topic: Topic | None = None
    query_topic: Topic | None = None
    query_payload: Payload = ""
    availability_topic: Topic | None = None
    payload_on: Word = "ON"
    payload_off: Word = "OFF"
    state_on: Word | None = None
    state_off: Word | None = None
    payload_available: Word = "Online"
    payload_not_available: Word = "Offline"

    @model_validator(mode="after")
    def _topics(self) -> MqttPower:
        if self.topic is None and (self.command_topic is None or self.state_topic is None):
            raise PydanticCustomError(
                "fleet_mqtt_topics",
                "give 'topic' (a Tasmota device) or both 'command_topic' and 'state_topic'; "
                "without a state topic the hub could only guess the state",
            )
        return self


class HttpPower(_Device):
    type: Literal["http"]
    on_url: HttpUrl
    off_url: HttpUrl
    status_url: HttpUrl
    method: Literal["GET", "POST"] = "GET"
    # Regular expressions the status answer matches when on / off (exactly one must match).
    on_pattern: Pattern
    off_pattern: Pattern
    user: UserName | None = None
    secret: SecretName | None = None


class GpioPower(_Device):
    type: Literal["gpio"]
    chip: Annotated[str, Field(min_length=1, max_length=64)] = "gpiochip0"
    line: Annotated[int, Field(ge=0, le=1023)]
    active_low: bool = False


PowerDevice = Annotated[
    TasmotaPower
    | Shelly1Power
    | Shelly2Power
    | HomeAssistantPower
    | MqttPower
    | HttpPower
    | GpioPower,
    Field(discriminator="type"),
]


class PowerSite(BaseModel):
    """When the hub may switch a printer off after a job, and how it switches one on."""

    model_config = _MODEL

    hotend_off_below: Annotated[float, Field(ge=20, le=100)] = 50
    bed_off_below: Annotated[float, Field(ge=20, le=80)] = 40
    idle_minutes: Annotated[float, Field(ge=0, le=1440)] = 10
    give_up_minutes: Annotated[float, Field(ge=1, le=10080)] = 120
    boot_timeout: Annotated[float, Field(ge=5, le=900)] = 90
    stagger_seconds: Annotated[float, Field(ge=0, le=600)] = 10


def _check_topic_level(value: str) -> str:
    if not _TOPIC_LEVEL.match(value):
        raise PydanticCustomError(
            "fleet_topic_prefix",
            "'{value}' is not a topic prefix; use letters, digits, '_', '-' and '/' between "
            "words (no '+', '#', spaces, or a leading or trailing '/'), e.g. fabfleet or "
            "farm/fabfleet",
            {"value": value},
        )
    return value


TopicPrefix = Annotated[str, AfterValidator(_check_topic_level)]


def _check_hub_user(value: str) -> str:
    if not _HUB_USER.match(value):
        raise PydanticCustomError(
            "fleet_hub_user",
            "'{value}' is not a hub user name (1-64 letters, digits, '.', '-' or '_')",
            {"value": value},
        )
    return value


HubUser = Annotated[str, AfterValidator(_check_hub_user)]


class MqttCommands(BaseModel):
    """Commands from the broker (pause, resume, cancel, bed clear): off unless an admin turns
    them on, and then run with the rights of one hub user (docs/mqtt.md)."""

    model_config = _MODEL

    enabled: bool = False
    as_user: HubUser | None = None

    @model_validator(mode="after")
    def _user(self) -> MqttCommands:
        if self.enabled and self.as_user is None:
            raise PydanticCustomError(
                "fleet_mqtt_commands_user",
                "commands need 'as_user': the hub user whose rights each command is checked "
                "against and who the audit log names (e.g. as_user: homeassistant)",
            )
        return self


class MqttPublish(BaseModel):
    """The hub publishing the fleet to the broker, with Home Assistant discovery
    (docs/mqtt.md)."""

    model_config = _MODEL

    enabled: bool = True
    topic_prefix: TopicPrefix = "fabfleet"
    discovery_prefix: TopicPrefix = "homeassistant"
    # Home Assistant discovery configs (false: only the hub's own topics).
    discovery: bool = True
    commands: MqttCommands = MqttCommands()

    @model_validator(mode="after")
    def _apart(self) -> MqttPublish:
        if self.topic_prefix == self.discovery_prefix:
            raise PydanticCustomError(
                "fleet_mqtt_prefixes",
                "topic_prefix and discovery_prefix must differ (the hub's topics would mix "
                "with Home Assistant's discovery configs)",
            )
        return self


class MqttBroker(BaseModel):
    """The MQTT broker the hub connects to (power devices, publishing the fleet)."""

    model_config = _MODEL

    host: Host
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: UserName | None = None
    secret: SecretName | None = None
    # Publishing the fleet (docs/mqtt.md); none: the hub publishes nothing.
    publish: MqttPublish | None = None


def power_json(device: BaseModel | None) -> dict[str, object] | None:
    """A device as hub/fleet.json carries it: the fields given, plus type and auto_off."""
    if device is None:
        return None
    data = device.model_dump(mode="json", exclude_none=True)
    return data


def uses_mqtt(devices: list[BaseModel | None]) -> bool:
    return any(isinstance(d, MqttPower) for d in devices)
