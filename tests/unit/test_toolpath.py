"""The toolpath preview of a G-code file: layers, Z, extrusion and travel, offsets, merging."""

from __future__ import annotations

import gzip
import math
from itertools import pairwise
from pathlib import Path

import pytest

from instance.analysis import analyse_file
from instance.analysis.toolpath import (
    LayerIndex,
    ToolpathError,
    build_toolpath,
    decode_layers,
    encode,
    layer_index,
    main,
)
from tests.big_gcode import FIXTURES, write_big_gcode

Point = tuple[int, int, bool]


def preview(tmp_path: Path, text: str) -> list[tuple[float, int, list[Point]]]:
    """The decoded preview of a file holding ``text``."""
    path = tmp_path / "part.gcode"
    path.write_text(text)
    return decode_layers(encode(build_toolpath(path)))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.gcode")))
def test_layers_and_their_z_agree_with_the_analysis(name: str):
    path = FIXTURES / name
    analysis = analyse_file(path)
    layers = decode_layers(encode(build_toolpath(path)))
    assert len(layers) == analysis.layer_count > 0
    tops = [round(sum(analysis.layer_heights[: n + 1]), 3) for n in range(analysis.layer_count)]
    assert [z for z, _, _ in layers] == pytest.approx(tops, abs=1e-3)
    # Every layer starts at a line of the file that extrudes at its Z.
    data = path.read_bytes()
    for _, offset, points in layers[:5]:
        assert offset == 0 or data[offset - 1 : offset] == b"\n"
        assert data[offset : offset + 3] in (b"G1 ", b"G2 ", b"G3 ")
        assert points


def test_extrusions_and_travels_are_told_apart_and_moves_before_the_first_layer_are_left_out(
    tmp_path: Path,
):
    layers = preview(
        tmp_path,
        "G90\nM82\nG92 E0\nG1 Z0.2 F600\nG1 X10 Y10\nG1 X20 Y10 E1\nG1 X20 Y20\nG1 X10 Y20 E2\n",
    )
    assert len(layers) == 1
    z, _, points = layers[0]
    assert z == 0.2
    assert points == [(2000, 1000, True), (2000, 2000, False), (1000, 2000, True)]


def test_layer_offsets_place_a_running_job(tmp_path: Path):
    text = (
        "G28\nG1 Z0.3\nG1 X5 Y5\n"
        "G1 X10 Y5 E1\nG1 X10 Y10 E2\n"  # layer 1
        "G1 Z0.6\nG1 X5 Y10 E3\n"  # layer 2
    )
    path = tmp_path / "part.gcode"
    path.write_text(text)
    index = layer_index(build_toolpath(path))
    first = text.index("G1 X10 Y5 E1")
    second = text.index("G1 X5 Y10 E3")
    assert index.offsets == (first, second)
    assert index.zs == (0.3, 0.6)
    # Nothing of a layer acknowledged: still the layer before (or none).
    assert index.at(0) is None
    assert index.at(first) is None
    assert index.at(first + 1) == (1, 0.3)
    assert index.at(second) == (1, 0.3)
    assert index.at(second + 1) == (2, 0.6)
    assert index.at(len(text)) == (2, 0.6)
    assert LayerIndex((), ()).at(100) is None


def test_collinear_and_tiny_segments_are_merged_but_the_shape_is_kept(tmp_path: Path):
    lines = ["G1 Z0.2", "G1 X0 Y0", "M83"]
    # A straight line in 100 pieces, then a circle of radius 20 in 720 chords.
    lines += [f"G1 X{n * 0.5:.3f} Y0 E0.02" for n in range(1, 101)]
    circle = [
        (50 + 20 * math.cos(math.tau * n / 720), 20 * math.sin(math.tau * n / 720))
        for n in range(721)
    ]
    lines += [f"G1 X{x:.4f} Y{y:.4f} E0.01" for x, y in circle]
    layers = preview(tmp_path, "\n".join(lines) + "\n")
    points = layers[0][2]
    # The straight line's 100 pieces, and the circle's first chord that goes on straight to
    # (70, 0), become two segments (at most 65 pieces are merged into one); the circle keeps
    # far fewer than its 720 chords.
    assert points[:2] == [(3250, 0, True), (7000, 0, True)]
    assert 20 < len(points) < 300
    # No chord point is further than 0.05 mm (plus rounding) from the merged outline.
    kept = [(x / 100, y / 100) for x, y, _ in points[1:]]
    for x, y in circle[::7]:
        assert min(_distance((x, y), a, b) for a, b in pairwise(kept)) < 0.06


def test_corners_of_infill_are_kept(tmp_path: Path):
    zigzag = ["G1 Z0.2", "G1 X0 Y0", "M83"]
    for n in range(1, 41):
        zigzag.append(f"G1 X{40 if n % 2 else 0} Y{n * 0.45:.2f} E0.5")
    points = preview(tmp_path, "\n".join(zigzag) + "\n")[0][2]
    assert len(points) == 40


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy or 1e-12
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


@pytest.mark.parametrize(
    ("moves", "extruding"),
    [
        ("M82\nG92 E5\nG1 X10 E6\n", True),  # absolute E grows
        ("M82\nG92 E5\nG1 X10 E4\n", False),  # absolute E falls: a retract while moving
        ("M83\nG1 X10 E0.4\n", True),  # relative E
        ("M83\nG1 X10 E-0.4\n", False),
        ("M83\nG1 X10 E0.4\nG92 E0\nG1 X20 E0.4\n", True),  # G92 E changes nothing here
        ("M82\nG91\nG1 X10 E0.4\n", True),  # G91 makes E relative (as in Marlin)
    ],
)
def test_relative_and_absolute_extrusion(tmp_path: Path, moves: str, extruding: bool):
    # A first extrusion makes a layer at Z 0.2; the move under test follows from (0, 0).
    layers = preview(tmp_path, f"G1 Z0.2\nM83\nG1 X0 Y1 E1\nG1 X0 Y0\nG90\n{moves}")
    assert len(layers) == 1
    last = layers[0][2][-1]
    assert last[2] is extruding


@pytest.mark.parametrize("command", ["G2", "G3"])
def test_arcs_are_cut_into_chords_on_their_circle(tmp_path: Path, command: str):
    # A half circle from (0, 0) to (20, 0) around (10, 0): below the X axis for G3, above for G2.
    layers = preview(tmp_path, f"G1 Z0.2\nG1 X0 Y0\nM83\n{command} X20 Y0 I10 J0 E2\n")
    points = layers[0][2]
    assert len(points) > 5
    assert points[-1] == (2000, 0, True)
    for x, y, extruding in points:
        assert extruding
        assert math.hypot(x / 100 - 10, y / 100) == pytest.approx(10, abs=0.03)
    side = [y for _, y, _ in points[:-1]]
    assert all(y > 0 for y in side) if command == "G2" else all(y < 0 for y in side)


def test_a_file_without_moves_has_no_layers(tmp_path: Path):
    layers = preview(tmp_path, "; just a comment\nM104 S200\nM140 S60\nG28\n")
    assert layers == []


def test_travel_only_has_no_layers(tmp_path: Path):
    assert preview(tmp_path, "G1 Z5\nG1 X10 Y10\nG1 X20 Y20 E-1\n") == []


def test_a_long_move_is_stored_in_pieces_and_ends_exactly(tmp_path: Path):
    layers = preview(tmp_path, "G1 Z0.2\nG1 X-300 Y-10\nM83\nG1 X300 Y10 E30\n")
    points = layers[0][2]
    assert points[-1] == (30000, 1000, True)
    assert len(points) >= 4  # 600 mm in steps of at most 163.83 mm


def test_binary_data_is_refused(tmp_path: Path):
    path = tmp_path / "part.bgcode"
    path.write_bytes(b"GCDE" + bytes(range(256)) * 40)
    with pytest.raises(ToolpathError, match="binary"):
        build_toolpath(path)


def test_the_worker_writes_the_preview_gzipped_and_its_layer_index(tmp_path: Path):
    out = tmp_path / "cube.fftp"
    assert main([str(FIXTURES / "cube_slic3r.gcode"), str(out)]) == 0
    assert gzip.decompress((tmp_path / "cube.fftp.gz").read_bytes()) == out.read_bytes()
    assert (tmp_path / "cube.fftp.json").read_text().startswith('{"offsets": [')
    bad = tmp_path / "bad.gcode"
    bad.write_bytes(b"\x00\x01\x02" * 1000)
    assert main([str(bad), str(tmp_path / "bad.fftp")]) == 1
    assert not (tmp_path / "bad.fftp").exists()


@pytest.mark.timeout(300)
def test_a_12_mb_file_gives_a_preview_of_bounded_size(tmp_path: Path):
    path = tmp_path / "big.gcode"
    size = write_big_gcode(path, 12 * 1024 * 1024)
    packed = encode(build_toolpath(path))
    # About 15 % of the file before compression, well under 1 MB over the wire.
    assert len(packed) < size // 5
    assert len(gzip.compress(packed)) < 1024 * 1024
