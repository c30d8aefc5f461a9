"""Temperature history in bounded memory: the last day at 1 Hz, and each job's own series."""

from __future__ import annotations

import json
import math
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NAN = float("nan")
# A printer that reports odd sensor names must not grow memory without bound;
# a real printer has a handful (tools, bed, chamber, a few extra sensors).
MAX_SERIES = 16
# A wall clock stepped back by NTP a second or two is still "now"; a bigger
# step back cannot be placed on the existing time axis.
_BACKSTEP_TOLERANCE = 2


def _nan_array(length: int) -> array[float]:
    return array("f", [NAN]) * length


def _values(raw: Iterable[float]) -> list[float | None]:
    # float32 storage turns 210.1 into 210.10000610351562; two decimals is
    # more than any thermistor resolves, and None is JSON's null for a gap.
    values = raw.tolist() if isinstance(raw, array) else raw
    return [None if v != v else round(v, 2) for v in values]


class TemperatureHistory:
    """The last ``capacity_seconds`` of readings, one slot per whole second.

    Each series is a float32 ring; times are implicit (the newest second and
    1 s spacing), so a day of six series takes about 2 MB. Several reports
    within one second collapse to the latest. A second with no report, or a
    series missing from a report, is NaN: times stay evenly spaced and a chart
    shows the gap as a break. A clock that jumps back more than 2 s starts a
    new history.
    """

    def __init__(self, capacity_seconds: int = 86400) -> None:
        if capacity_seconds < 1:
            raise ValueError("capacity_seconds must be at least 1")
        self.capacity = capacity_seconds
        self._rings: dict[str, array[float]] = {}
        self._head: int | None = None  # newest second with a slot
        self._first = 0  # oldest second ever written since the last reset

    def __len__(self) -> int:
        if self._head is None:
            return 0
        return self._head - self._oldest() + 1

    @property
    def series_names(self) -> list[str]:
        return list(self._rings)

    def buffer_bytes(self) -> int:
        """Bytes held by the rings' buffers and the objects around them."""
        return sys.getsizeof(self._rings) + sum(
            sys.getsizeof(name) + sys.getsizeof(ring) for name, ring in self._rings.items()
        )

    def _oldest(self) -> int:
        assert self._head is not None
        return max(self._first, self._head - self.capacity + 1)

    def _clear(self, second: int) -> None:
        for ring in self._rings.values():
            ring[:] = _nan_array(self.capacity)
        self._head = self._first = second

    def _blank(self, first: int, count: int) -> None:
        """Set ``count`` slots from second ``first`` on to NaN in every ring."""
        start = first % self.capacity
        stop = start + count
        for ring in self._rings.values():
            if stop <= self.capacity:
                ring[start:stop] = _nan_array(count)
            else:
                ring[start:] = _nan_array(self.capacity - start)
                ring[: stop - self.capacity] = _nan_array(stop - self.capacity)

    def add(self, now: float, values: Mapping[str, float | None]) -> None:
        """Record one report; ``None`` (or a series left out) means no reading."""
        second = math.floor(now)
        head = self._head
        if head is None:
            self._clear(second)
        elif second > head:
            gap = second - head
            if gap >= self.capacity:
                # Every slot is now a gap; the history still starts where it did.
                first = self._first
                self._clear(second)
                self._first = first
            else:
                self._blank(head + 1, gap)
                self._head = second
        elif second < head:
            if head - second <= _BACKSTEP_TOLERANCE:
                second = head
            else:
                self._clear(second)
        slot = second % self.capacity
        for name, value in values.items():
            ring = self._rings.get(name)
            if ring is None:
                if len(self._rings) >= MAX_SERIES:
                    continue
                ring = self._rings[name] = _nan_array(self.capacity)
            ring[slot] = NAN if value is None else value

    def since(self, t: float) -> tuple[list[float], dict[str, list[float | None]]]:
        """Times (whole seconds) from ``t`` on, and each series' values at those times."""
        if self._head is None:
            return [], {name: [] for name in self._rings}
        head = self._head
        first = max(self._oldest(), math.ceil(t))
        if first > head:
            return [], {name: [] for name in self._rings}
        times = [float(s) for s in range(first, head + 1)]
        start = first % self.capacity
        stop = start + (head - first + 1)
        series: dict[str, list[float | None]] = {}
        for name, ring in self._rings.items():
            if stop <= self.capacity:
                series[name] = _values(ring[start:stop])
            else:
                series[name] = _values(ring[start:]) + _values(ring[: stop - self.capacity])
        return times, series

    def latest(self) -> tuple[float, dict[str, float]] | None:
        """The newest second and the series that have a reading in it; None if empty."""
        if self._head is None:
            return None
        slot = self._head % self.capacity
        readings = {
            name: round(ring[slot], 2)
            for name, ring in self._rings.items()
            if ring[slot] == ring[slot]
        }
        return float(self._head), readings


@dataclass(frozen=True, slots=True)
class TemperatureSamples:
    """Evenly spaced readings: sample ``i`` is at ``start + i * step``; NaN is no reading."""

    start: float
    step: float
    series: dict[str, array[float]]

    def __len__(self) -> int:
        return max((len(values) for values in self.series.values()), default=0)

    def times(self) -> list[float]:
        return [self.start + i * self.step for i in range(len(self))]

    def values(self, name: str) -> list[float | None]:
        return _values(self.series[name])

    def to_blob(self) -> bytes:
        """A compact, byte-order independent encoding (zlib of a JSON header and float32 data)."""
        names = list(self.series)
        header = {
            "v": 1,
            "start": self.start,
            "step": self.step,
            "count": len(self),
            "series": names,
        }
        data = array("f")
        for name in names:
            values = self.series[name]
            data.extend(values)
            data.extend(_nan_array(len(self) - len(values)))
        if sys.byteorder == "big":
            data.byteswap()
        return zlib.compress(json.dumps(header).encode() + b"\0" + data.tobytes(), 6)

    @classmethod
    def from_blob(cls, blob: bytes) -> TemperatureSamples:
        try:
            raw = zlib.decompress(blob)
            head, _, body = raw.partition(b"\0")
            header = json.loads(head)
            count = int(header["count"])
            names = [str(n) for n in header["series"]]
            data = array("f")
            data.frombytes(body)
        except (zlib.error, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable temperature samples: {exc}") from exc
        if header.get("v") != 1 or len(data) != count * len(names):
            raise ValueError("unreadable temperature samples: wrong version or length")
        if sys.byteorder == "big":
            data.byteswap()
        series = {name: data[i * count : (i + 1) * count] for i, name in enumerate(names)}
        return cls(float(header["start"]), float(header["step"]), series)


class JobTemperatureSeries:
    """One job's readings from its start, at 1 s steps while it fits in ``max_points``.

    When a job outgrows ``max_points`` (48 h at 1 Hz by default), the step
    doubles and every other point goes, so memory stays bounded however long
    the job runs. Within a step the latest report wins, as in TemperatureHistory.
    """

    def __init__(self, start: float, max_points: int = 48 * 3600) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2")
        self.start = start
        self.max_points = max_points
        self.step = 1
        self._count = 0
        self._series: dict[str, array[float]] = {}

    def __len__(self) -> int:
        return self._count

    def _halve(self) -> None:
        for name, values in self._series.items():
            # Keep the later reading of each pair unless only the earlier one exists.
            halved = array(
                "f", [b if b == b else a for a, b in zip(values[0::2], values[1::2], strict=False)]
            )
            if len(values) % 2:
                halved.append(values[-1])
            self._series[name] = halved
        self._count = (self._count + 1) // 2
        self.step *= 2

    def add(self, now: float, values: Mapping[str, float | None]) -> None:
        index = max(0, math.floor((now - self.start) / self.step))
        while index >= self.max_points:
            self._halve()
            index = max(0, math.floor((now - self.start) / self.step))
        if index < self._count - 1:
            # The clock went back: this is still the newest reading.
            index = self._count - 1
        if index >= self._count:
            grow = index + 1 - self._count
            for existing in self._series.values():
                existing.extend(_nan_array(grow))
            self._count = index + 1
        for name, value in values.items():
            series = self._series.get(name)
            if series is None:
                if len(self._series) >= MAX_SERIES:
                    continue
                series = self._series[name] = _nan_array(self._count)
            series[index] = NAN if value is None else value

    def samples(self) -> TemperatureSamples:
        """A copy of the readings so far."""
        return TemperatureSamples(
            self.start, float(self.step), {name: array("f", s) for name, s in self._series.items()}
        )
