"""A G-code file's moves as a compact, layer-by-layer preview for the printer's page.

``build_toolpath(path)`` reads the file once with the analysis' own parsing
rules (a ``PyKernel`` whose moves are recorded instead of planned: the same
words, modes, ``G2``/``G3`` chords and layer rule, so the layer count matches
the analysis'), keeps the XY path of each layer, merges segments that add no
visible detail, and ``encode`` packs it for the wire (format in
docs/printer-page.md, "Toolpath preview").

``python -m instance.analysis.toolpath FILE OUT`` writes the packed preview to
OUT, the same gzipped to OUT.gz and its layer index to OUT.json (each
atomically): the print server runs it in a niced process of its own, as it
runs the analysis.
"""

from __future__ import annotations

import gzip
import json
import math
import operator
import os
import struct
import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from instance.analysis.analyse import SNIFF, AnalysisError, _check_text
from instance.analysis.limits import MachineLimits
from instance.analysis.pykernel import PyKernel

MAGIC = b"FFTP"
VERSION = 1
UNITS_PER_MM = 100  # XY in 0.01 mm
Z_UNITS_PER_MM = 1000  # Z in µm
CHECKPOINT_EVERY = 16  # one file offset every this many points
# Merge limits: a dropped point lies within this of the line that replaces it.
TOLERANCE_MM = 0.05
MAX_RUN = 64  # points merged into one segment at most (bounds the check's cost)
HEADER = struct.Struct("<4sHHIIiiii")
LAYER = struct.Struct("<diiiI")
# x carries the extrusion flag in its lowest bit: a step is at most this many units.
MAX_STEP = 16383
_LAYER_EPS = 1e-4
_CHUNK = 1 << 20

EXTRUDE = 1
TRAVEL = 0


class ToolpathError(ValueError):
    """The file cannot be previewed (not G-code text); the message says why."""


@dataclass
class Layer:
    """One layer: where it starts in the file, its Z, and its points (0.01 mm, absolute)."""

    offset: int
    z: float
    start: tuple[int, int]
    xs: list[int] = field(default_factory=list)
    ys: list[int] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


@dataclass
class Toolpath:
    layers: list[Layer]

    @property
    def point_count(self) -> int:
        return sum(len(layer.xs) for layer in self.layers)


class _Recorder(PyKernel):
    """The analysis' move model, recording each move's end point instead of planning it."""

    def __init__(self, tolerance_mm: float) -> None:
        super().__init__(MachineLimits().as_vector())
        self.line_offset = 0
        self.path_layers: list[Layer] = []
        self.layer_z = math.nan
        self._tol2 = (tolerance_mm * UNITS_PER_MM) ** 2
        # The last kept point, the point that may still be merged away, and the run between.
        self._kept = (0, 0)
        self._pending: tuple[int, int, int, int] | None = None  # x, y, kind, offset
        self._run: list[tuple[int, int]] = []

    def _move(self, x: float, y: float, z: float, e: float) -> None:
        x0, y0 = self.x, self.y
        extrudes = e > self.e and (x != x0 or y != y0)
        self.x, self.y, self.z, self.e = x, y, z, e
        if extrudes and not abs(z - self.layer_z) <= _LAYER_EPS:
            self._flush()
            self.layer_z = z
            start = (round(x0 * UNITS_PER_MM), round(y0 * UNITS_PER_MM))
            self.path_layers.append(Layer(self.line_offset, z, start))
            self._kept = start
            self._run = []
        if not self.path_layers or (x == x0 and y == y0):
            return
        self._add(
            round(x * UNITS_PER_MM),
            round(y * UNITS_PER_MM),
            EXTRUDE if extrudes else TRAVEL,
        )

    def _add(self, qx: int, qy: int, kind: int) -> None:
        pending = self._pending
        if pending is None:
            if (qx, qy) != self._kept:
                self._pending = (qx, qy, kind, self.line_offset)
            return
        px, py, pkind, _ = pending
        if (qx, qy) == (px, py):
            if kind == EXTRUDE and pkind == TRAVEL:
                self._pending = (px, py, kind, pending[3])
            return
        if (
            pkind == kind
            and len(self._run) < MAX_RUN
            and self._close((*self._run, (px, py)), qx, qy)
        ):
            self._run.append((px, py))
        else:
            self._commit()
        self._pending = (qx, qy, kind, self.line_offset)

    def _close(self, points: tuple[tuple[int, int], ...], qx: int, qy: int) -> bool:
        """Whether every point lies within the tolerance of the segment from the kept point to q."""
        kx, ky = self._kept
        dx, dy = qx - kx, qy - ky
        length2 = dx * dx + dy * dy
        for px, py in points:
            ax, ay = px - kx, py - ky
            t = (ax * dx + ay * dy) / length2 if length2 else 0.0
            if t < 0.0 or t > 1.0:  # a point beyond either end: the path turns back
                return False
            cross = ax * dy - ay * dx
            if cross * cross > self._tol2 * length2:
                return False
        return True

    def _commit(self) -> None:
        pending = self._pending
        if pending is None:
            return
        layer = self.path_layers[-1]
        layer.xs.append(pending[0])
        layer.ys.append(pending[1])
        layer.kinds.append(pending[2])
        layer.offsets.append(pending[3])
        self._kept = (pending[0], pending[1])
        self._pending = None
        self._run = []

    def _flush(self) -> None:
        if self.path_layers:
            self._commit()


def build_toolpath(path: Path, *, tolerance_mm: float = TOLERANCE_MM) -> Toolpath:
    """Every layer's path in ``path``; ToolpathError for a file that is not G-code text."""
    recorder = _Recorder(tolerance_mm)
    with path.open("rb") as handle:
        try:
            _check_text(handle.read(SNIFF))
        except AnalysisError as error:
            raise ToolpathError(str(error)) from error
        handle.seek(0)
        offset = 0
        pending = b""
        feed = PyKernel.feed
        while True:
            chunk = handle.read(_CHUNK)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop() if chunk else b""
            for line in lines:
                stripped = line.lstrip()
                if stripped and stripped[0] != 59:  # not a comment line (";")
                    recorder.line_offset = offset
                    feed(recorder, line)
                offset += len(line) + 1
            if not chunk:
                break
    recorder._flush()
    return Toolpath(recorder.path_layers)


# ---------------------------------------------------------------------- format


def encode(toolpath: Toolpath) -> bytes:
    """The packed preview: header, layer table, then each layer's steps and checkpoints."""
    table = bytearray()
    body = bytearray()
    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    total = 0
    for layer in toolpath.layers:
        steps, offsets = _steps(layer, bounds)
        count = len(steps) // 2
        table += LAYER.pack(
            float(layer.offset), round(layer.z * Z_UNITS_PER_MM), *layer.start, count
        )
        checkpoints = array("I", [n - layer.offset for n in offsets[::CHECKPOINT_EVERY]])
        if sys.byteorder == "big":
            steps.byteswap()
            checkpoints.byteswap()
        body += steps.tobytes()
        body += checkpoints.tobytes()
        total += count
    if bounds[0] > bounds[2]:
        bounds = [0, 0, 0, 0]
    header = HEADER.pack(
        MAGIC,
        VERSION,
        CHECKPOINT_EVERY,
        len(toolpath.layers),
        total,
        *(int(v) for v in bounds),
    )
    return bytes(header + table + body)


def _steps(layer: Layer, bounds: list[float]) -> tuple[array[int], list[int]]:
    """Deltas ``(dx * 2 + extrudes, dy)`` from the layer's start, interleaved, and each one's
    file offset; ``bounds`` grown to the layer's extrusions."""
    xs, ys, kinds, offsets = layer.xs, layer.ys, layer.kinds, layer.offsets
    if not xs:
        return array("h"), []
    before_x, before_y = [layer.start[0], *xs[:-1]], [layer.start[1], *ys[:-1]]
    ends_x = [x for x, k in zip(xs, kinds, strict=True) if k]
    ends_x += [x for x, k in zip(before_x, kinds, strict=True) if k]
    ends_y = [y for y, k in zip(ys, kinds, strict=True) if k]
    ends_y += [y for y, k in zip(before_y, kinds, strict=True) if k]
    if ends_x:
        bounds[0], bounds[1] = min(bounds[0], min(ends_x)), min(bounds[1], min(ends_y))
        bounds[2], bounds[3] = max(bounds[2], max(ends_x)), max(bounds[3], max(ends_y))
    dxs = list(map(operator.sub, xs, before_x))
    dys = list(map(operator.sub, ys, before_y))
    if max(max(dxs), -min(dxs), max(dys), -min(dys)) > MAX_STEP:
        dxs, dys, kinds, offsets = _cut_long_steps(dxs, dys, kinds, offsets)
    steps = array("h", bytes(4 * len(dxs)))
    steps[0::2] = array("h", [dx * 2 + k for dx, k in zip(dxs, kinds, strict=True)])
    steps[1::2] = array("h", dys)
    return steps, offsets


def _cut_long_steps(
    dxs: list[int], dys: list[int], kinds: list[int], offsets: list[int]
) -> tuple[list[int], list[int], list[int], list[int]]:
    """The same path with every step longer than MAX_STEP cut into equal pieces."""
    out: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    for dx, dy, kind, offset in zip(dxs, dys, kinds, offsets, strict=True):
        pieces = max(1, -(-max(abs(dx), abs(dy)) // MAX_STEP))
        done_x = done_y = 0
        for n in range(1, pieces + 1):
            to_x, to_y = dx * n // pieces, dy * n // pieces
            out[0].append(to_x - done_x)
            out[1].append(to_y - done_y)
            out[2].append(kind)
            out[3].append(offset)
            done_x, done_y = to_x, to_y
    return out


@dataclass(frozen=True)
class LayerIndex:
    """Where each layer starts in the file and its Z: enough to place a running job."""

    offsets: tuple[int, ...]
    zs: tuple[float, ...]

    def at(self, bytes_done: int) -> tuple[int, float] | None:
        """The 1-based layer being printed once ``bytes_done`` bytes are acknowledged, and its Z;
        None before the first layer starts."""
        # A layer is under way once its first line is acknowledged: past its start offset.
        layer = bisect_left(self.offsets, bytes_done)
        if layer == 0:
            return None
        return layer, self.zs[layer - 1]

    def to_json(self) -> dict[str, list[float] | list[int]]:
        return {"offsets": list(self.offsets), "z": list(self.zs)}


def layer_index(toolpath: Toolpath) -> LayerIndex:
    return LayerIndex(
        tuple(layer.offset for layer in toolpath.layers),
        tuple(round(layer.z, 4) for layer in toolpath.layers),
    )


def decode_layers(data: bytes) -> list[tuple[float, int, list[tuple[int, int, bool]]]]:
    """The packed preview read back: per layer (Z mm, start offset, absolute points with
    their extrusion flag). For tests and tools; the page has its own reader."""
    magic, version, every, count, _, *_ = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a version 1 toolpath preview")
    position = HEADER.size + count * LAYER.size
    layers = []
    for n in range(count):
        offset, z, x, y, points = LAYER.unpack_from(data, HEADER.size + n * LAYER.size)
        steps = struct.unpack_from(f"<{points * 2}h", data, position)
        position += points * 4 + -(-points // every) * 4
        path = []
        for i in range(0, len(steps), 2):
            x += steps[i] >> 1
            y += steps[i + 1]
            path.append((x, y, bool(steps[i] & 1)))
        layers.append((z / Z_UNITS_PER_MM, int(offset), path))
    return layers


# ---------------------------------------------------------------------- worker


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with OUT, OUT.gz and OUT.json written, 1 with the reason on stderr."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2:
        print("usage: python -m instance.analysis.toolpath FILE OUT", file=sys.stderr)
        return 2
    source, out = Path(arguments[0]), Path(arguments[1])
    os.nice(10)
    try:
        toolpath = build_toolpath(source)
    except (ToolpathError, OSError) as error:
        print(str(error), file=sys.stderr)
        return 1
    packed = encode(toolpath)
    index = layer_index(toolpath)
    for target, content in (
        (out, packed),
        (out.with_name(out.name + ".gz"), gzip.compress(packed, 6, mtime=0)),
        (out.with_name(out.name + ".json"), json.dumps(index.to_json()).encode()),
    ):
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
