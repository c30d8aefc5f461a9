"""Firmware motion limits the time estimate plans with (Marlin's M201/M203/M204/M205)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MachineLimits:
    """Motion limits of one printer, in mm/s and mm/s².

    The defaults are Marlin 2's stock ``Configuration.h`` values, with classic
    jerk (what PrusaSlicer and Cura plan with) rather than junction deviation.
    Set ``junction_deviation`` (mm, ``M205 J``) to plan corners the way a Marlin
    built with junction deviation does.

    The file's own ``M201``/``M203``/``M204``/``M205`` lines override these from
    the point where they appear, as they would on the printer.
    """

    max_feedrate_x: float = 300.0  # M203 X
    max_feedrate_y: float = 300.0
    max_feedrate_z: float = 5.0
    max_feedrate_e: float = 25.0
    max_acceleration_x: float = 3000.0  # M201 X
    max_acceleration_y: float = 3000.0
    max_acceleration_z: float = 100.0
    max_acceleration_e: float = 10000.0
    acceleration_print: float = 3000.0  # M204 P (and S)
    acceleration_retract: float = 3000.0  # M204 R
    acceleration_travel: float = 3000.0  # M204 T (and S)
    jerk_x: float = 10.0  # M205 X
    jerk_y: float = 10.0
    jerk_z: float = 0.3
    jerk_e: float = 5.0
    junction_deviation: float | None = None  # M205 J; None plans with classic jerk
    min_feedrate: float = 0.0  # M205 S
    min_travel_feedrate: float = 0.0  # M205 T

    def as_vector(self) -> list[float]:
        """The limits as the flat list both kernels take (order is part of their ABI)."""
        jd = self.junction_deviation
        return [
            self.max_feedrate_x,
            self.max_feedrate_y,
            self.max_feedrate_z,
            self.max_feedrate_e,
            self.max_acceleration_x,
            self.max_acceleration_y,
            self.max_acceleration_z,
            self.max_acceleration_e,
            self.acceleration_print,
            self.acceleration_retract,
            self.acceleration_travel,
            self.jerk_x,
            self.jerk_y,
            self.jerk_z,
            self.jerk_e,
            jd if jd is not None and jd > 0 else 0.0,
            self.min_feedrate,
            self.min_travel_feedrate,
        ]

    @classmethod
    def from_slicer_config(cls, config: Mapping[str, str]) -> MachineLimits | None:
        """Limits from PrusaSlicer/OrcaSlicer ``; machine_max_...`` config comments.

        These slicers keep the printer profile's limits in the config block at
        the end of the file, one ``normal,silent`` pair per key; the first value
        (normal mode) is the one their "normal mode" estimate uses. Returns None
        when the config has none of them.
        """
        keys = {
            "machine_max_feedrate_x": "max_feedrate_x",
            "machine_max_feedrate_y": "max_feedrate_y",
            "machine_max_feedrate_z": "max_feedrate_z",
            "machine_max_feedrate_e": "max_feedrate_e",
            "machine_max_acceleration_x": "max_acceleration_x",
            "machine_max_acceleration_y": "max_acceleration_y",
            "machine_max_acceleration_z": "max_acceleration_z",
            "machine_max_acceleration_e": "max_acceleration_e",
            "machine_max_acceleration_extruding": "acceleration_print",
            "machine_max_acceleration_retracting": "acceleration_retract",
            "machine_max_acceleration_travel": "acceleration_travel",
            "machine_max_jerk_x": "jerk_x",
            "machine_max_jerk_y": "jerk_y",
            "machine_max_jerk_z": "jerk_z",
            "machine_max_jerk_e": "jerk_e",
            "machine_min_extruding_rate": "min_feedrate",
            "machine_min_travel_rate": "min_travel_feedrate",
        }
        values: dict[str, float] = {}
        for key, field in keys.items():
            raw = config.get(key)
            if raw is None:
                continue
            value = _first_number(raw)
            if value is not None and value >= 0:
                values[field] = value
        if not values:
            return None
        limits = dataclasses.replace(cls(), **values)
        # A travel acceleration of 0 means "same as printing" in these slicers
        # (and for flavours without a separate one).
        if "acceleration_travel" not in values or limits.acceleration_travel <= 0:
            limits = dataclasses.replace(limits, acceleration_travel=limits.acceleration_print)
        return limits


def _first_number(raw: str) -> float | None:
    head = raw.split(",", 1)[0].strip()
    try:
        value = float(head)
    except ValueError:
        return None
    return value if value == value and abs(value) < 1e9 else None
