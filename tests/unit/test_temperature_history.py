"""TemperatureHistory and JobTemperatureSeries: bounded memory, exact windows, gaps."""

from __future__ import annotations

import itertools
import math
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instance.temperature_history import (
    MAX_SERIES,
    JobTemperatureSeries,
    TemperatureHistory,
    TemperatureSamples,
)

DAY = 86400
SIX = ("T0.actual", "T0.target", "T1.actual", "T1.target", "B.actual", "B.target")


def report(second: int) -> dict[str, float | None]:
    return {name: float(second % 300) + index for index, name in enumerate(SIX)}


@pytest.fixture(scope="module")
def full_day() -> TemperatureHistory:
    history = TemperatureHistory()
    for second in range(DAY + 1):
        history.add(1_000_000 + second + 0.25, report(second))
    return history


def test_a_day_and_a_second_keeps_exactly_the_last_day(full_day: TemperatureHistory) -> None:
    times, series = full_day.since(0)
    assert len(times) == len(full_day) == DAY
    assert times[0] == 1_000_001.0
    assert times[-1] == 1_000_000.0 + DAY
    assert all(b - a == 1.0 for a, b in itertools.pairwise(times))
    assert set(series) == set(SIX)
    for index, name in enumerate(SIX):
        assert series[name][0] == 1.0 + index
        assert series[name][-1] == float(DAY % 300) + index
        assert len(series[name]) == DAY
        assert None not in series[name]


def test_a_day_of_six_series_fits_in_three_megabytes(full_day: TemperatureHistory) -> None:
    ring_bytes = sum(
        ring.buffer_info()[1] * ring.itemsize
        for ring in full_day._rings.values()  # the buffers themselves
    )
    assert ring_bytes == DAY * 4 * 6
    assert full_day.buffer_bytes() <= 3_000_000


def test_since_returns_the_window_from_t(full_day: TemperatureHistory) -> None:
    end = 1_000_000 + DAY
    times, series = full_day.since(end - 9.5)
    assert times == [float(t) for t in range(end - 9, end + 1)]
    assert series["B.actual"] == [float((t - 1_000_000) % 300) + 4 for t in range(end - 9, end + 1)]
    assert full_day.since(end + 1) == ([], {name: [] for name in SIX})


def test_reports_within_one_second_collapse_to_the_latest() -> None:
    history = TemperatureHistory(60)
    history.add(10.1, {"T0.actual": 20.0, "B.actual": 30.0})
    history.add(10.9, {"T0.actual": 21.5})
    assert history.since(0) == ([10.0], {"T0.actual": [21.5], "B.actual": [30.0]})
    assert history.latest() == (10.0, {"T0.actual": 21.5, "B.actual": 30.0})


def test_gaps_and_missing_series_are_none_and_times_stay_evenly_spaced() -> None:
    history = TemperatureHistory(60)
    history.add(10.0, {"T0.actual": 20.0})
    history.add(13.0, {"T0.actual": 23.0, "C.actual": None})
    history.add(14.0, {"B.actual": 60.1})
    times, series = history.since(0)
    assert times == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert series["T0.actual"] == [20.0, None, None, 23.0, None]
    assert series["C.actual"] == [None] * 5
    assert series["B.actual"] == [None, None, None, None, 60.1]
    assert history.latest() == (14.0, {"B.actual": 60.1})


def test_clock_steps() -> None:
    history = TemperatureHistory(60)
    assert history.latest() is None
    assert history.since(0) == ([], {})
    history.add(100.0, {"T": 1.0})
    history.add(98.5, {"T": 2.0})  # NTP nudged the clock back a little: still "now"
    assert history.since(0) == ([100.0], {"T": [2.0]})
    history.add(50.0, {"T": 3.0})  # a big step back starts over
    assert history.since(0) == ([50.0], {"T": [3.0]})
    history.add(50.0 + 60, {"T": 4.0})  # a gap as long as the history: all gap but now
    assert history.since(0) == ([float(t) for t in range(51, 111)], {"T": [None] * 59 + [4.0]})


def test_the_number_of_series_is_bounded() -> None:
    history = TemperatureHistory(10)
    history.add(0.0, {f"S{n}": float(n) for n in range(MAX_SERIES + 5)})
    assert len(history.series_names) == MAX_SERIES


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 7),
    steps=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.3, 1.0, 1.0, 2.0, 3.5, 9.0]),
            st.dictionaries(
                st.sampled_from(["a", "b", "c"]),
                st.one_of(st.none(), st.integers(-50, 300).map(float)),
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_the_ring_matches_a_plain_dictionary_model(
    capacity: int, steps: list[tuple[float, dict[str, float | None]]]
) -> None:
    history = TemperatureHistory(capacity)
    model: dict[int, dict[str, float | None]] = {}
    now = 1000.0
    for delta, values in steps:
        now += delta
        history.add(now, values)
        model.setdefault(math.floor(now), {}).update(values)
    last = math.floor(now)
    seconds = [s for s in range(last - capacity + 1, last + 1) if s >= min(model)]
    times, series = history.since(-1)
    assert times == [float(s) for s in seconds]
    names = {name for values in model.values() for name in values}
    assert set(series) == names
    for name in names:
        assert series[name] == [model.get(s, {}).get(name) for s in seconds]


# -- one job's series ---------------------------------------------------------


def test_a_short_job_keeps_every_second() -> None:
    job = JobTemperatureSeries(start=500.5)
    for second in range(120):
        job.add(500.5 + second, {"T0.actual": 20.0 + second})
    job.add(500.5 + 119.5, {"T0.actual": 999.0})  # same step: latest wins
    samples = job.samples()
    assert (samples.start, samples.step, len(samples)) == (500.5, 1.0, 120)
    assert samples.values("T0.actual")[:3] == [20.0, 21.0, 22.0]
    assert samples.values("T0.actual")[-1] == 999.0
    assert samples.times()[-1] == 500.5 + 119


def test_a_long_job_is_downsampled_within_its_bound() -> None:
    job = JobTemperatureSeries(start=0.0, max_points=100)
    for second in range(1000):
        job.add(float(second), {"T0.actual": float(second), "B.actual": 60.0})
    samples = job.samples()
    assert len(job) <= 100
    assert samples.step == 16.0
    times = samples.times()
    values = samples.values("T0.actual")
    # Each point is the latest reading within its step.
    for time, value in zip(times, values, strict=True):
        assert value is not None
        assert time <= value < time + samples.step
    assert values[-1] == 999.0
    assert samples.values("B.actual") == [60.0] * len(values)


def test_a_job_series_starting_late_or_with_gaps() -> None:
    job = JobTemperatureSeries(start=0.0, max_points=10)
    job.add(0.0, {"T0.actual": 1.0})
    job.add(3.0, {"C.actual": 40.0})
    job.add(2.0, {"T0.actual": 2.0})  # clock back: still the newest reading
    samples = job.samples()
    assert samples.values("T0.actual") == [1.0, None, None, 2.0]
    assert samples.values("C.actual") == [None, None, None, 40.0]
    job.add(1_000_000.0, {"T0.actual": 5.0})  # a huge jump halves until it fits
    assert len(job) <= 10
    assert job.samples().values("T0.actual")[-1] == 5.0


def test_samples_round_trip_through_a_blob() -> None:
    samples = TemperatureSamples(
        10.0, 2.0, {"a": array("f", [1.5, float("nan"), 3.25]), "b": array("f", [7.0])}
    )
    blob = samples.to_blob()
    back = TemperatureSamples.from_blob(blob)
    assert (back.start, back.step, back.times()) == (10.0, 2.0, [10.0, 12.0, 14.0])
    assert back.values("a") == [1.5, None, 3.25]
    assert back.values("b") == [7.0, None, None]
    with pytest.raises(ValueError, match="unreadable"):
        TemperatureSamples.from_blob(b"garbage")
    with pytest.raises(ValueError, match="unreadable"):
        TemperatureSamples.from_blob(blob[:-3])


def test_a_48_hour_job_blob_is_compact() -> None:
    job = JobTemperatureSeries(start=0.0)
    for second in range(0, 48 * 3600, 1):
        job.add(float(second), {"T0.actual": 210.0 + (second % 7) * 0.1, "B.actual": 60.0})
    blob = job.samples().to_blob()
    assert len(job) == 48 * 3600
    assert len(blob) < 48 * 3600 * 2 * 4
