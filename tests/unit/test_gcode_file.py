"""GcodeFile, slicer estimates, M73 and ProgressClock against real slicer output."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instance import gcode_file
from instance.gcode_file import (
    GcodeFile,
    GcodeLine,
    ProgressClock,
    SlicerEstimate,
    parse_duration,
    parse_m73,
    read_slicer_estimate,
)
from instance.protocol.framing import strip_comment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
ALL_FIXTURES = sorted(FIXTURES.glob("*.gcode"))
TOWER = FIXTURES / "tower_prusa_relE.gcode"


def reference_lines(data: bytes) -> list[GcodeLine]:
    """A deliberately naive reading: whole file in memory, one line at a time."""
    result = []
    offset = 0
    pieces = data.split(b"\n")
    for number, raw in enumerate(pieces, start=1):
        last = number == len(pieces)
        if last and raw == b"":
            break
        end = offset + len(raw) + (0 if last else 1)
        command = strip_comment(raw.decode("utf-8", "replace")).replace("\x00", "").strip()
        if command:
            result.append(GcodeLine(command, number, offset, end))
        offset = end
    return result


def write(tmp_path: Path, data: bytes) -> GcodeFile:
    path = tmp_path / "t.gcode"
    path.write_bytes(data)
    return GcodeFile(path)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_commands_match_a_naive_line_by_line_reading(path: Path) -> None:
    expected = reference_lines(path.read_bytes())
    gcode = GcodeFile(path)
    assert list(gcode.iter_commands()) == expected
    assert gcode.command_count() == len(expected)
    assert gcode.size == path.stat().st_size
    # Sanity of the reference itself: not every line is a command.
    assert 0 < len(expected) < path.read_bytes().count(b"\n")


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_resume_at_an_offset_yields_exactly_the_remaining_commands(path: Path) -> None:
    everything = list(GcodeFile(path).iter_commands())
    gcode = GcodeFile(path)
    for index in (0, 1, 1000, len(everything) // 2, len(everything) - 1):
        line = everything[index]
        assert list(gcode.iter_commands(line.offset)) == everything[index:]
        assert list(gcode.iter_commands(line.end_offset)) == everything[index + 1 :]
    assert list(gcode.iter_commands(gcode.size)) == []


def test_resume_counts_comment_and_blank_lines_before_the_offset() -> None:
    gcode = GcodeFile(TOWER)
    data = TOWER.read_bytes()
    offset = data.index(b"\n", len(data) // 2) + 1
    first = next(iter(gcode.iter_commands(offset)))
    assert first.number == data[: first.offset].count(b"\n") + 1
    assert gcode.line_number_at(offset) == data[:offset].count(b"\n") + 1


def test_offset_inside_a_line_or_outside_the_file_is_refused() -> None:
    gcode = GcodeFile(TOWER)
    line = list(gcode.iter_commands())[10]
    with pytest.raises(ValueError, match="not the start of a line"):
        gcode.iter_commands(line.offset + 1)
    with pytest.raises(ValueError, match="outside"):
        gcode.iter_commands(gcode.size + 1)
    with pytest.raises(ValueError, match="outside"):
        gcode.iter_commands(-1)


def test_awkward_bytes_are_read_without_raising(tmp_path: Path) -> None:
    data = (
        b"G28 ; home\r\n"
        b"\r\n"
        b"   \n"
        b"; only a comment\n"
        b"  ;indented comment\n"
        b"M117 caf\xc3\xa9 \xff\xfe done\n"
        b"G1 X1\x00 Y2\n"
        b"\x00\x00\n"
        b"G1 X5 Y5"
    )
    gcode = write(tmp_path, data)
    lines = list(gcode.iter_commands())
    assert [(line.command, line.number) for line in lines] == [
        ("G28", 1),
        ("M117 café \ufffd\ufffd done", 6),
        ("G1 X1 Y2", 7),
        ("G1 X5 Y5", 9),
    ]
    assert lines[0].offset == 0
    assert lines[0].end_offset == len(b"G28 ; home\r\n")
    assert lines[-1].end_offset == len(data)
    assert lines == reference_lines(data)
    assert gcode.command_count() == 4


def test_empty_file(tmp_path: Path) -> None:
    gcode = write(tmp_path, b"")
    assert list(gcode.iter_commands()) == []
    assert gcode.command_count() == 0


def test_an_over_long_line_does_not_disturb_the_lines_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcode_file, "_CHUNK", 16)
    monkeypatch.setattr(gcode_file, "MAX_LINE_BYTES", 20)
    long_comment = b"G1 X1 ;" + b"c" * 100
    long_garbage = b"Z" * 100
    data = b"G28\n" + long_comment + b"\nG1 X2\n" + long_garbage + b"\nG1 X3\n" + long_garbage
    lines = list(write(tmp_path, data).iter_commands())
    assert [(line.command, line.number) for line in lines] == [
        ("G28", 1),
        ("G1 X1", 2),  # the comment was cut, the command is whole
        ("G1 X2", 3),
        ("Z" * 20, 4),  # no firmware takes such a line; the job runner refuses it
        ("G1 X3", 5),
        ("Z" * 20, 6),
    ]
    starts = [0, 4, 4 + len(long_comment) + 1]
    assert [line.offset for line in lines[:3]] == starts
    assert lines[1].end_offset == starts[2]
    assert lines[3].end_offset == data.index(b"G1 X3")
    assert lines[4].offset == data.index(b"G1 X3")
    assert lines[5].end_offset == len(data)


line_strategy = st.lists(
    st.one_of(
        st.sampled_from([b"G1 X1 Y2", b"; comment", b"", b"  ", b"M104 S200 ;heat", b"\x00"]),
        st.binary(max_size=12).filter(lambda b: b"\n" not in b),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    lines=line_strategy,
    crlf=st.booleans(),
    final_newline=st.booleans(),
    chunk=st.integers(1, 9),
)
def test_any_chunking_reads_what_a_naive_reader_reads(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    crlf: bool,
    final_newline: bool,
    chunk: int,
) -> None:
    data = (b"\r\n" if crlf else b"\n").join(lines)
    if final_newline and lines:
        data += b"\n"
    path = tmp_path_factory.mktemp("h") / "f.gcode"
    path.write_bytes(data)
    expected = reference_lines(data)
    saved = gcode_file._CHUNK
    gcode_file._CHUNK = chunk
    try:
        gcode = GcodeFile(path)
        assert list(gcode.iter_commands()) == expected
        for index, line in enumerate(expected):
            assert list(gcode.iter_commands(line.offset)) == expected[index:]
    finally:
        gcode_file._CHUNK = saved


def test_the_tower_file_is_read_whole_and_the_same_each_time() -> None:
    # How fast (under 0.2 s) is bench/gcode_read.py's figure, not a test's.
    gcode = GcodeFile(TOWER)
    first = [line.offset for line in gcode.iter_commands()]
    assert len(first) > 50_000
    assert [line.offset for line in gcode.iter_commands()] == first
    assert gcode.command_count() == len(first)


def test_command_count_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    gcode = GcodeFile(TOWER)
    first = gcode.command_count()
    monkeypatch.setattr(gcode, "_iter_from", None)
    assert gcode.command_count() == first


# -- slicer estimates ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cube_prusa_marlin2.gcode", SlicerEstimate("PrusaSlicer", "2.5.0", 1842.0, 1682.58)),
        ("tower_prusa_relE.gcode", SlicerEstimate("PrusaSlicer", "2.5.0", 2405.0, 1933.93)),
        ("cube_cura_ender3.gcode", SlicerEstimate("Cura", "4.13.0", 1494.0, 1828.48)),
        ("cube_slic3r.gcode", SlicerEstimate("Slic3r", "1.3.0", None, 732.2)),
    ],
)
def test_slicer_estimates_equal_the_slicers_own_figures(
    name: str, expected: SlicerEstimate
) -> None:
    assert read_slicer_estimate(FIXTURES / name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "; G-Code generated by Simplify3D(R) Version 4.1.2\nG28\n"
            ";   Build time: 1 hours 2 minutes\n;   Filament length: 1234.5 mm (1.23 m)\n",
            SlicerEstimate("Simplify3D", "4.1.2", 3720.0, 1234.5),
        ),
        (
            "; HEADER_BLOCK_START\n; generated by OrcaSlicer 2.1.1 on x\n; HEADER_BLOCK_END\n"
            "G28\n; filament used [mm] = 100.5, 20.25\n"
            "; estimated printing time (normal mode) = 1d 2h 3m 4s\n",
            SlicerEstimate("OrcaSlicer", "2.1.1", 93784.0, 120.75),
        ),
        (
            "G28\r\n;TIME:61\r\n;Filament used: 1.5m, 0.25m\r\n",
            SlicerEstimate(None, None, 61.0, 1750.0),
        ),
        ("G28\nG1 X1\n", SlicerEstimate()),
        ("", SlicerEstimate()),
    ],
)
def test_other_slicers_and_formats(tmp_path: Path, text: str, expected: SlicerEstimate) -> None:
    path = tmp_path / "s.gcode"
    path.write_text(text)
    assert read_slicer_estimate(path) == expected


def test_only_the_head_and_tail_are_read(tmp_path: Path) -> None:
    filler = b"G1 X1 Y1 E0.1\n" * 20_000
    path = tmp_path / "big.gcode"
    path.write_bytes(b";FLAVOR:Marlin\n" + filler + b";TIME:99\n" + filler + b";TIME_ELAPSED:5\n")
    assert read_slicer_estimate(path) == SlicerEstimate("Cura", None, None, None)
    path.write_bytes(filler + filler + b"; estimated printing time (normal mode) = 5s\n")
    assert read_slicer_estimate(path).print_time == 5.0


def test_parse_duration() -> None:
    assert parse_duration("30m 42s") == 1842
    assert parse_duration("1d 2h 3m 4s") == 93784
    assert parse_duration("42s") == 42
    assert parse_duration("0 hours 38 minutes") == 38 * 60
    assert parse_duration("soon") is None


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("M73 P42 R17", (42.0, 1020.0)),
        ("M73 P0 R30", (0.0, 1800.0)),
        ("m73 p42.5", (42.5, None)),
        ("M73 R5", (None, 300.0)),
        ("M73 Q10 S32", (10.0, 1920.0)),
        ("M73 P10 R30 Q11 S32", (10.0, 1800.0)),
        ("M73 P10 Q11 S32", (10.0, None)),
        ("M73P42R17", (42.0, 1020.0)),
        ("M73", (None, None)),
        ("M117 M73 P42 R17", (None, None)),
        ("M730 P1", (None, None)),
        ("G1 X1", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_m73(command: str, expected: tuple[float | None, float | None]) -> None:
    assert parse_m73(command) == expected


def test_m73_lines_of_a_real_file_all_parse() -> None:
    path = FIXTURES / "cube_prusa_marlin2.gcode"
    progress = [parse_m73(line.command) for line in GcodeFile(path).iter_commands()]
    normal = [p for p in progress if p != (None, None)]
    assert normal[0] == (0.0, 1800.0)
    assert normal[-1][0] == 100.0


# -- ProgressClock ------------------------------------------------------------


def test_elapsed_excludes_paused_time_and_survives_several_pauses() -> None:
    clock = ProgressClock()
    assert clock.elapsed(5.0) == 0.0
    clock.start(100.0)
    assert clock.elapsed(160.0) == 60.0
    clock.pause(160.0)
    assert clock.paused
    assert clock.elapsed(1000.0) == 60.0
    clock.pause(2000.0)  # a second pause request changes nothing
    clock.resume(1060.0)
    assert clock.paused_total == 900.0
    assert clock.elapsed(1100.0) == 100.0
    clock.pause(1100.0)
    clock.resume(1200.0)
    clock.resume(1300.0)  # resuming twice changes nothing
    assert clock.paused_total == 1000.0
    assert clock.elapsed(1250.0) == 150.0


def test_eta_prefers_m73_and_counts_it_down_only_while_printing() -> None:
    clock = ProgressClock()
    clock.start(0.0)
    clock.note_m73(100.0, 10.0, 900.0)
    assert clock.m73_percent == 10.0
    assert clock.eta(160.0, 0.5, None, 2000.0) == 840.0
    clock.pause(160.0)
    assert clock.eta(5000.0, 0.5, None, 2000.0) == 840.0
    clock.resume(5000.0)
    assert clock.eta(5040.0, 0.5, None, 2000.0) == 800.0
    assert clock.eta(90_000.0, 0.5, None, 2000.0) == 0.0
    clock.note_m73(90_000.0, 99.0, 60.0)
    assert clock.eta(90_030.0, 0.99, None, 2000.0) == 30.0


def test_eta_uses_given_remaining_then_slicer_total_scaled_by_speed() -> None:
    clock = ProgressClock()
    clock.start(0.0)
    assert clock.eta(0.0, 0.0, 500.0, 1000.0) == 500.0
    # 40 % done in 600 s where the slicer expected 400 s: 1.5 times slower.
    assert clock.eta(600.0, 0.4, None, 1000.0) == pytest.approx(900.0)
    # Early on the ratio is mostly ignored: heat-up is not the print's speed.
    assert clock.eta(300.0, 0.01, None, 1000.0) == pytest.approx(990.0 * (1 + 29 * 0.1))
    assert clock.eta(0.0, 0.0, None, 1000.0) == 1000.0
    assert clock.eta(700.0, 1.0, None, 1000.0) == 0.0


def test_eta_extrapolates_linearly_without_slicer_figures() -> None:
    clock = ProgressClock()
    assert clock.eta(10.0, 0.5, None, None) is None
    clock.start(0.0)
    assert clock.eta(0.0, 0.0, None, None) is None
    assert clock.eta(100.0, 0.0, None, None) is None
    assert clock.eta(100.0, 0.25, None, None) == pytest.approx(300.0)
    clock.pause(100.0)
    clock.resume(1100.0)
    assert clock.eta(1100.0, 0.25, None, None) == pytest.approx(300.0)


def test_eta_of_a_resumed_job_uses_only_the_part_printed_since_resuming() -> None:
    clock = ProgressClock()
    clock.start(0.0, fraction_done=0.5)
    assert clock.eta(0.0, 0.5, None, None) is None
    assert clock.eta(100.0, 0.6, None, None) == pytest.approx(400.0)
    assert clock.eta(100.0, 0.6, None, 1000.0) == pytest.approx(400.0)
