"""``analyse_file``: read a G-code file once for its slicer comments and once for its moves."""

from __future__ import annotations

import math
import os
import re
import statistics
from pathlib import Path
from typing import BinaryIO, Protocol

from instance.analysis.ckernel import KERNEL_ENV, CKernel, compiled_available
from instance.analysis.kernel_result import KernelResult
from instance.analysis.limits import MachineLimits
from instance.analysis.metadata import MetadataParser, SlicerMetadata
from instance.analysis.pykernel import PyKernel
from instance.analysis.result import GcodeAnalysis

DEFAULT_FILAMENT_DIAMETER = 1.75  # mm
DEFAULT_FILAMENT_DENSITY = 1.24  # g/cm³ (PLA)
CHUNK = 1 << 20
HEAD_WINDOW = 1 << 20  # slicer headers and thumbnails
HEAD_LIMIT = 32 << 20  # ... a thumbnail block still open at HEAD_WINDOW may go on to here
TAIL_WINDOW = 512 << 10  # PrusaSlicer/Orca config and summaries
SNIFF = 64 << 10
# A "line" this long without a newline is fed to the kernel as it is.
MAX_PENDING = 4 << 20

_COMMENT_LINE = re.compile(rb"^[ \t]*;[^\n]*", re.M)
_COMMAND = re.compile(rb"^\s*(?:N\d+\s*)?[GMTgmt]\d", re.M)


class AnalysisError(ValueError):
    """The file is not G-code text (binary, or text with no G-code command)."""


class _Kernel(Protocol):
    def feed(self, data: bytes) -> None: ...

    def finish(self) -> KernelResult: ...


def _check_text(sample: bytes) -> None:
    if not sample:
        return
    if sample.startswith(b"GCDE"):
        raise AnalysisError("binary G-code (.bgcode) is not supported; export plain G-code")
    # Random binary data is ~11 % control bytes; text has next to none (a stray
    # garbage line in a real file must not condemn it).
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 11, 12, 13))
    if controls > len(sample) // 100:
        raise AnalysisError("not G-code text: the file holds binary data")
    lines = [ln.strip() for ln in sample.split(b"\n")[:-1] or sample.split(b"\n")]
    code = [ln for ln in lines if ln and not ln.startswith(b";")]
    if code and not _COMMAND.search(b"\n".join(code)):
        raise AnalysisError("not G-code text: no G-code command in the first lines")


def _scan_comments(handle: BinaryIO, size: int, parser: MetadataParser) -> None:
    """Feed the parser the head (and any thumbnail running on) and the tail of the file."""
    handle.seek(0)
    read = 0
    pending = b""
    tail_start = max(0, size - TAIL_WINDOW)
    while read < size:
        if read >= HEAD_WINDOW and not parser.in_thumbnail:
            break
        if read >= HEAD_LIMIT or read >= tail_start:
            break
        chunk = handle.read(min(CHUNK, size - read))
        if not chunk:
            break
        read += len(chunk)
        block = pending + chunk
        cut = block.rfind(b"\n") + 1
        _feed_comments(parser, block[:cut])
        pending = block[cut:]
    if read < tail_start:
        # Jump to the tail, dropping the partial line at the cut.
        handle.seek(tail_start)
        data = handle.read()
        data = data[data.find(b"\n") + 1 :] if tail_start else data
        pending = b""
    else:
        handle.seek(read)
        data = handle.read()
    _feed_comments(parser, pending + data)


def _feed_comments(parser: MetadataParser, block: bytes) -> None:
    # Only comment lines reach Python; the commands between them are skipped in C.
    for match in _COMMENT_LINE.finditer(block):
        parser.feed(match.group())


def _make_kernel(vector: list[float], kernel: str | None) -> tuple[_Kernel, str]:
    choice = kernel or os.environ.get(KERNEL_ENV) or "auto"
    if choice == "c" or (choice == "auto" and compiled_available()):
        return CKernel(vector), "c"
    return PyKernel(vector), "python"


def _run_kernel(handle: BinaryIO, kernel: _Kernel) -> int:
    """Stream the whole file through the kernel; returns the number of lines."""
    handle.seek(0)
    lines = 0
    pending = b""
    last = b""
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        last = chunk
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > MAX_PENDING:
                kernel.feed(data)
                pending = b""
            else:
                pending = data
            continue
        kernel.feed(data[:cut])
        pending = data[cut + 1 :]
    if pending:
        kernel.feed(pending)
    if last and not last.endswith(b"\n"):
        lines += 1
    return lines


def _layer_heights(layer_z: tuple[float, ...]) -> list[float]:
    heights: list[float] = []
    previous = 0.0
    for z in layer_z:
        heights.append(round(z - previous if z > previous else z, 6))
        previous = z
    return heights


def _choose_limits(given: MachineLimits | None, meta: SlicerMetadata) -> tuple[MachineLimits, str]:
    if given is not None:
        return given, "profile"
    if meta.limits is not None:
        return meta.limits, "slicer config"
    return MachineLimits(), "defaults"


def analyse_file(
    path: Path, limits: MachineLimits | None = None, *, kernel: str | None = None
) -> GcodeAnalysis:
    """Analyse one G-code file (blocking; run it in a worker thread or process).

    ``limits`` is the printer's profile; without it the limits come from the
    slicer's config comments (PrusaSlicer/OrcaSlicer ``machine_max_*``), else
    Marlin's defaults. ``M201``/``M203``/``M204``/``M205`` lines in the file
    override either from where they appear. ``kernel`` forces "c" or "python"
    (default: the compiled kernel when it was built).

    The time estimate leaves out ``G4`` dwells (reported apart), heat-up waits
    (``M109``/``M190``) and homing: their length depends on the printer, not
    on the file.

    Memory stays flat: the file is read in 1 MiB chunks, and only the head
    and tail are searched for slicer comments. Unknown or malformed lines are
    skipped; ``AnalysisError`` is raised only for a file that is not G-code
    text at all (binary data, or text without a single G-code command);
    ``OSError`` if it cannot be read.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        _check_text(handle.read(SNIFF))
        parser = MetadataParser()
        _scan_comments(handle, size, parser)
        meta = parser.result()
        chosen, source = _choose_limits(limits, meta)
        engine, engine_name = _make_kernel(chosen.as_vector(), kernel)
        line_count = _run_kernel(handle, engine)
    result = engine.finish()
    if result.limit_lines:
        source = f"file (over {source})"
    return _combine(meta, result, line_count, source, engine_name)


def _combine(
    meta: SlicerMetadata, result: KernelResult, line_count: int, source: str, kernel: str
) -> GcodeAnalysis:
    diameter = meta.filament_diameter or DEFAULT_FILAMENT_DIAMETER
    density = meta.filament_density or DEFAULT_FILAMENT_DENSITY
    cross_section = math.pi * (diameter / 2.0) ** 2  # mm²
    computed_length = result.extruded_mm[0]
    slicer_length = meta.filament_mm[0] if meta.filament_mm else None
    length = slicer_length if slicer_length is not None else computed_length
    if meta.filament_cm3 and slicer_length is not None:
        volume = meta.filament_cm3[0]
    else:
        volume = length * cross_section / 1000.0
    weight = meta.filament_g if meta.filament_g is not None else volume * density
    per_tool = list(result.extruded_mm)
    while len(per_tool) > 1 and per_tool[-1] == 0.0:
        per_tool.pop()
    heights = _layer_heights(result.layer_z)
    bbox = result.bbox or (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    area = {
        "min_x": bbox[0],
        "max_x": bbox[1],
        "min_y": bbox[2],
        "max_y": bbox[3],
        "min_z": bbox[4],
        "max_z": bbox[5],
    }
    dims = {"width": bbox[1] - bbox[0], "depth": bbox[3] - bbox[2], "height": bbox[5] - bbox[4]}
    if result.bbox is not None:
        dims["height"] = bbox[5]  # the part stands on the bed: its height is its top
    typical = round(statistics.median(heights[1:]), 6) if len(heights) > 1 else None
    return GcodeAnalysis(
        estimated_time_s=meta.time_s if meta.time_s is not None else result.time_s,
        computed_time_s=result.time_s,
        slicer_time_s=meta.time_s,
        slicer=meta.slicer,
        slicer_version=meta.slicer_version,
        filament_length_mm=length,
        computed_filament_length_mm=computed_length,
        slicer_filament_length_mm=slicer_length,
        filament_per_tool_mm=per_tool,
        filament_volume_cm3=volume,
        filament_weight_g=weight,
        filament_diameter_mm=diameter,
        filament_density_g_cm3=density,
        layer_count=len(heights),
        slicer_layer_count=meta.layer_count,
        layer_heights=heights,
        first_layer_height=heights[0] if heights else None,
        layer_height=typical if typical is not None else meta.layer_height,
        dimensions=dims,
        printing_area=area,
        thumbnails=meta.thumbnails,
        line_count=line_count,
        move_count=result.move_count,
        dwell_time_s=result.dwell_s,
        limits_source=source,
        kernel=kernel,
    )
