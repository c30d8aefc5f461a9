"""Temperature presets: a material's hotend and bed temperatures."""

from __future__ import annotations

import json
from dataclasses import dataclass

# Hotend and bed in °C: what a fleet file's site table starts from.
DEFAULT_MATERIALS: dict[str, tuple[int, int]] = {
    "PLA": (210, 60),
    "PETG": (240, 80),
    "ABS": (250, 100),
    "ASA": (255, 100),
    "TPU": (225, 50),
    "PA": (260, 80),
    "PC": (270, 110),
}
HOTEND_RANGE = (0, 450)
BED_RANGE = (0, 150)


@dataclass(frozen=True, slots=True)
class Preset:
    """One material's temperatures in °C."""

    name: str
    hotend: int
    bed: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "hotend": self.hotend, "bed": self.bed}


def default_presets() -> list[Preset]:
    return [Preset(name, hotend, bed) for name, (hotend, bed) in DEFAULT_MATERIALS.items()]


def _temperature(entry: dict[str, object], key: str, limits: tuple[int, int]) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"preset {entry.get('name')!r}: {key} must be a number of °C")
    low, high = limits
    if not low <= value <= high:
        raise ValueError(f"preset {entry.get('name')!r}: {key} {value} is not {low} to {high} °C")
    return round(value)


def parse_presets(text: str) -> list[Preset]:
    """Presets from JSON: ``[{"name": "PLA", "hotend": 210, "bed": 60}, …]``."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(data, list):
        raise ValueError('must be a JSON list like [{"name": "PLA", "hotend": 210, "bed": 60}]')
    presets: list[Preset] = []
    for entry in data:
        if not isinstance(entry, dict) or set(entry) != {"name", "hotend", "bed"}:
            raise ValueError(f"each preset needs exactly name, hotend and bed: {entry!r}")
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a preset's name must be text: {entry!r}")
        hotend = _temperature(entry, "hotend", HOTEND_RANGE)
        presets.append(Preset(name.strip(), hotend, _temperature(entry, "bed", BED_RANGE)))
    return presets
