"""``fabfleet-instance serve`` settings: command line over environment over config file."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instance.after_job import check_choice
from instance.materials import Preset, parse_presets
from instance.park import parse_park_gcode
from instance.timelapse.settings import (
    DEFAULT_INTERVAL,
    DEFAULT_KEEP_VIDEOS,
    Mode,
    TimelapseSettings,
    parse_mode,
    parse_snapshot_url,
)
from instance.web.gate import GateKeyError, read_key_file

ENV_PREFIX = "FABFLEET_"


class ConfigError(ValueError):
    """Settings that cannot be used; the message names the source and how to fix it."""


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Everything ``serve`` needs, validated."""

    port: str
    data_dir: Path
    baudrate: int = 250000
    listen_host: str = "127.0.0.1"
    listen_port: int = 5000
    api_key: str | None = None
    api_user: str = "api"
    printer: str = "printer"
    base_path: str = ""
    rx_buffer: int = 128
    command_buffer: int = 4
    response_timeout: float = 10.0
    window: str = "auto"
    # After every job (a stalled one once the printer answers again): off or keep.
    after_job_heaters: str = "off"
    after_job_fans: str = "off"
    # The page's temperature presets; None: the built-in material table.
    presets: tuple[Preset, ...] | None = None
    max_upload_mb: int = 2048
    # Free disk uploads must leave for job records, counters and timelapse frames.
    disk_reserve_mb: int = 64
    # Seconds the device may be gone before the process exits (EXIT_DEVICE_GONE); 0: never.
    device_gone_timeout: float = 60.0
    camera_url: str | None = None
    # The camera's snapshot URL (timelapses need it) and this printer's timelapse default.
    camera_snapshot_url: str | None = None
    timelapse: Mode = "off"
    timelapse_interval: float = DEFAULT_INTERVAL
    timelapse_keep_videos: int = DEFAULT_KEEP_VIDEOS
    timelapse_keep_mb: int = 0
    # Run before each layer's frame, the head brought back after it (empty: no park move).
    timelapse_park_gcode: tuple[str, ...] = ()
    # Gate mode: the file holding this printer's key, and the key (hex in the file).
    gate_key_file: Path | None = None
    gate_key: bytes | None = field(default=None, repr=False)
    # The hub whose dispatch check every start asks (gate mode only); None: ask no one.
    hub_url: str | None = None

    def timelapse_settings(self) -> TimelapseSettings | None:
        """The timelapse settings, None without a camera snapshot URL (no timelapse then)."""
        if self.camera_snapshot_url is None:
            return None
        return TimelapseSettings(
            self.camera_snapshot_url,
            self.timelapse,
            self.timelapse_interval,
            self.timelapse_keep_videos,
            self.timelapse_keep_mb,
            self.timelapse_park_gcode,
        )


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    parse: Callable[[str], Any]
    help: str
    default: Any = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _lines_text(value: object) -> str:
    """A config file may give lines as a list; the command line and environment as text."""
    if isinstance(value, list):
        return "\n".join(str(line) for line in value)
    return str(value)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _seconds_or_never(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number of seconds (0: never)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text.strip()!r}: must be 0 (never) or a positive number of seconds")
    return value


def _whole_or_unlimited(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 (no limit) or a positive whole number")
    return value


def _window(text: str) -> str:
    value = text.strip().lower()
    if value not in ("auto", "single"):
        raise ValueError("must be auto or single")
    return value


def _presets(text: str) -> tuple[Preset, ...]:
    return tuple(parse_presets(text))


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


UNIX_PREFIX = "unix:"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for every interface), or
    ``unix:/absolute/path`` for a Unix socket (port 0)."""
    if text.strip().startswith(UNIX_PREFIX):
        path = text.strip().removeprefix(UNIX_PREFIX)
        if not path.startswith("/"):
            raise ValueError(f"{text!r}: a Unix socket needs an absolute path (unix:/…)")
        return UNIX_PREFIX + path, 0
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, port


def parse_base_path(text: str) -> str:
    """``/printers/name`` without its trailing slash; empty for none."""
    path = text.strip().rstrip("/")
    if path and not path.startswith("/"):
        raise ValueError(f"{text!r} must start with /")
    if any(part in (".", "..") for part in path.split("/")) or any(c in path for c in "?#\\ "):
        raise ValueError(f"{text!r} is not a plain URL path")
    return path


OPTIONS: tuple[Option, ...] = (
    Option("port", _text, "device path (/dev/ttyUSB0), socket://HOST:PORT or rfc2217://HOST:PORT"),
    Option("baudrate", _positive_int, "serial speed", 250000),
    Option("data_dir", lambda t: Path(_text(t)), "files, job history and state live here"),
    Option(
        "listen",
        parse_listen,
        "HOST:PORT (or unix:/PATH) the web server listens on",
        "127.0.0.1:5000",
    ),
    Option("api_key", _text, "key every API request must carry (none: no key needed)"),
    Option("api_user", _text, "name recorded as who started a job with the API key", "api"),
    Option("printer", _text, "the printer's display name", "printer"),
    Option("base_path", parse_base_path, "URL prefix when served behind a proxy", ""),
    Option("rx_buffer", _positive_int, "firmware receive buffer in bytes", 128),
    Option("command_buffer", _positive_int, "firmware command slots (BUFSIZE)", 4),
    Option("response_timeout", _positive_float, "seconds of silence before M105", 10.0),
    Option(
        "window",
        _window,
        "lines in flight: auto (many; one for a while after a line error) or single (one)",
        "auto",
    ),
    Option(
        "after_job_heaters",
        check_choice,
        "once a job has ended (completed, cancelled, failed): off (every heater off) or keep",
        "off",
    ),
    Option("after_job_fans", check_choice, "once a job has ended: off (fans off) or keep", "off"),
    Option(
        "presets",
        _presets,
        'temperature presets as JSON, [{"name": "PLA", "hotend": 210, "bed": 60}, …]'
        " (default: the built-in material table)",
    ),
    Option("max_upload_mb", _positive_int, "largest accepted upload in MB", 2048),
    Option(
        "disk_reserve_mb",
        _whole_or_unlimited,
        "free disk in MB kept for job records, counters and timelapse frames: an upload"
        " that would leave less is refused (507)",
        64,
    ),
    Option(
        "device_gone_timeout",
        _seconds_or_never,
        "seconds the printer's device may be gone (cannot be opened, or a socket:// printer"
        " refuses) before the print server exits with status 75, so its container is started"
        " again and opens the device anew; 0: never exit, keep trying",
        60,
    ),
    Option("camera_url", _text, "the printer's camera stream URL, shown on the page"),
    Option(
        "camera_snapshot_url",
        parse_snapshot_url,
        "the camera's snapshot URL (a JPEG per GET, e.g. http://camera-top:8080/snapshot):"
        " timelapses take their frames there (docs/timelapse.md)",
    ),
    Option(
        "timelapse",
        parse_mode,
        "a job's timelapse unless it chooses: off, layer (a frame per layer) or interval"
        " (needs --camera-snapshot-url)",
        "off",
    ),
    Option(
        "timelapse_interval",
        _positive_float,
        "seconds between frames in interval mode",
        DEFAULT_INTERVAL,
    ),
    Option(
        "timelapse_keep_videos",
        _whole_or_unlimited,
        "timelapse videos kept; the oldest are deleted past it (0: no limit)",
        DEFAULT_KEEP_VIDEOS,
    ),
    Option(
        "timelapse_keep_mb",
        _whole_or_unlimited,
        "MB of timelapse videos kept; the oldest are deleted past it (0: no limit)",
        0,
    ),
    Option(
        "timelapse_park_gcode",
        lambda text: parse_park_gcode(_lines_text(text)),
        "layer frames: G-code that parks the head before each layer's frame, lines separated"
        " by | (e.g. 'G91|G1 Z2 F600|G90|G1 X0 Y200 F6000'); the head is brought back"
        " after it; empty: no park move (docs/timelapse.md)",
    ),
    Option(
        "gate_key_file",
        lambda t: Path(_text(t)),
        "file with this printer's gate key (hex): every request needs the hub's signed identity",
    ),
    Option(
        "hub_url",
        _text,
        "the hub's URL (e.g. http://hub:8080): every print start asks its dispatch check first"
        " (needs the gate key); unset: no check beyond the printer's own",
    ),
)
_BY_NAME = {option.name: option for option in OPTIONS}


def read_config_file(path: Path) -> dict[str, str]:
    """A TOML or YAML file's settings as text values, unknown keys refused."""
    try:
        raw = path.read_bytes()
        info = path.stat()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
    data = _parse_file(path, raw)
    values: dict[str, str] = {}
    problems: list[str] = []
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in _BY_NAME:
            import difflib

            hint = difflib.get_close_matches(name, list(_BY_NAME), n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(f"unknown key {key!r}{did_you_mean}")
            continue
        if isinstance(value, dict | list) or value is None:
            problems.append(f"{key!r} must be a single value, not {type(value).__name__}")
            continue
        values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if problems:
        known = ", ".join(_BY_NAME)
        raise ConfigError(f"{path}: " + "; ".join(problems) + f". Known keys: {known}")
    if "api_key" in values and info.st_mode & stat.S_IROTH:
        raise ConfigError(
            f"{path} holds an API key and every user on this host can read it;"
            f" run: chmod 600 {path}"
        )
    return values


def _parse_file(path: Path, raw: bytes) -> Mapping[str, Any]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(raw.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(raw) or {}
        else:
            raise ConfigError(f"{path}: a config file must end in .toml, .yaml or .yml")
    except ConfigError:
        raise
    except Exception as error:  # each parser has its own error types
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings, found {type(data).__name__}")
    return data


def load_config(
    given: Mapping[str, str | None], env: Mapping[str, str], config_file: Path | None
) -> ServeConfig:
    """Settings from the command line, else the environment, else the file, else defaults."""
    from_file = read_config_file(config_file) if config_file is not None else {}
    chosen: dict[str, Any] = {}
    problems: list[str] = []
    for option in OPTIONS:
        sources = (
            (given.get(option.name), option.flag),
            (env.get(option.env), option.env),
            (from_file.get(option.name), f"{config_file}: {option.name}"),
        )
        for text, where in sources:
            if text is not None:
                try:
                    chosen[option.name] = option.parse(text)
                except ValueError as error:
                    problems.append(f"{where}: {error}")
                break
        else:
            if option.default is not None:
                chosen[option.name] = option.parse(str(option.default))
    for required in ("port", "data_dir"):
        if required not in chosen and not any(p.startswith(f"--{required}") for p in problems):
            option = _BY_NAME[required]
            problems.append(f"{option.flag} is required (or {option.env}, or the config file)")
    if problems:
        raise ConfigError("; ".join(problems))
    host, listen_port = chosen.pop("listen")
    if "gate_key_file" in chosen:
        try:
            chosen["gate_key"] = read_key_file(chosen["gate_key_file"])
        except GateKeyError as error:
            raise ConfigError(str(error)) from None
    hub_url = chosen.get("hub_url")
    if hub_url is not None:
        if "gate_key" not in chosen:
            raise ConfigError("--hub-url needs --gate-key-file: the hub's check is asked signed")
        if not str(hub_url).startswith(("http://", "https://", "unix:/")):
            raise ConfigError(
                f"--hub-url must be an http:// or https:// URL or unix:/SOCKET, not {hub_url!r}"
            )
    if chosen.get("timelapse", "off") != "off" and "camera_snapshot_url" not in chosen:
        raise ConfigError(
            f"--timelapse {chosen['timelapse']} needs --camera-snapshot-url: the frames come"
            " from the camera's snapshot"
        )
    if chosen.get("timelapse_park_gcode"):
        if "camera_snapshot_url" not in chosen:
            raise ConfigError(
                "--timelapse-park-gcode needs --camera-snapshot-url: it parks for a frame"
            )
        if chosen.get("timelapse") == "interval":
            raise ConfigError(
                "--timelapse-park-gcode is for layer frames: interval mode never parks"
                " (use --timelapse layer, or remove the park G-code)"
            )
    return ServeConfig(listen_host=host, listen_port=listen_port, **chosen)


def environment() -> Mapping[str, str]:
    """The process environment (a seam for tests)."""
    return os.environ
