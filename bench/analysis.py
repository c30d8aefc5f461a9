"""G-code analysis: lines/s of each kernel, and accuracy against the slicers' own figures.

    python -m bench.analysis [--repeat 3] [--big-lines 1000000] [--json out.json]

For every fixture in tests/fixtures/gcode: ``analyse_file`` end to end with
the compiled kernel and with the pure Python one, and a naive one-line-at-a-
time parser (OctoPrint-style: feedrate only, no acceleration) for scale; then
one big file (a fixture repeated to ``--big-lines``). Accuracy: our time and
filament against the slicer's figures, with the comments and with every
comment stripped (with the printer profile from the slicer's config, and with
Marlin's defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from instance.analysis import MachineLimits, analyse_file
from instance.analysis.ckernel import CKernel, compiled_available

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gcode"


@dataclass(frozen=True, slots=True)
class Speed:
    file: str
    lines: int
    c_lines_per_s: float | None
    c_kernel_only_lines_per_s: float | None  # the file already in memory, no comment scan
    python_lines_per_s: float
    naive_lines_per_s: float


@dataclass(frozen=True, slots=True)
class Accuracy:
    file: str
    slicer_time_s: float | None
    slicer_filament_mm: float
    reported_time_s: float | None
    computed_time_s: float  # with comments (limits from the slicer's config when it has them)
    stripped_profile_time_s: float | None  # comments stripped, printer profile passed in
    stripped_default_time_s: float  # comments stripped, Marlin defaults
    reported_filament_mm: float
    stripped_filament_mm: float
    naive_time_s: float


def naive_analysis(path: Path) -> tuple[float, float]:
    """One line at a time, the way simple analysers do it: distance / feedrate, max E."""
    x = y = z = e = 0.0
    feed = 25.0
    relative_e = False
    total_time = 0.0
    max_e = 0.0
    net_e = 0.0
    with path.open("r", errors="replace") as handle:
        for raw in handle:
            line = raw.split(";", 1)[0].strip().upper()
            if not line:
                continue
            words = line.split()
            code = words[0]
            if code in ("G0", "G1"):
                nx, ny, nz, ne = x, y, z, e
                for word in words[1:]:
                    try:
                        value = float(word[1:])
                    except ValueError:
                        continue
                    letter = word[0]
                    if letter == "X":
                        nx = value
                    elif letter == "Y":
                        ny = value
                    elif letter == "Z":
                        nz = value
                    elif letter == "E":
                        ne = e + value if relative_e else value
                    elif letter == "F" and value > 0:
                        feed = value / 60.0
                dist = math.sqrt((nx - x) ** 2 + (ny - y) ** 2 + (nz - z) ** 2) or abs(ne - e)
                total_time += dist / feed
                net_e += ne - e
                max_e = max(max_e, net_e)
                x, y, z, e = nx, ny, nz, ne
            elif code == "G92":
                for word in words[1:]:
                    if word.startswith("E"):
                        with contextlib.suppress(ValueError):
                            e = float(word[1:])
            elif code == "M83":
                relative_e = True
            elif code == "M82":
                relative_e = False
    return total_time, max_e


def _best(fn: object, repeat: int) -> float:
    assert callable(fn)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_speed(path: Path, repeat: int) -> Speed:
    lines = analyse_file(path, kernel="python").line_count
    c = kernel_only = None
    if compiled_available():
        c = lines / _best(lambda: analyse_file(path, kernel="c"), repeat)
        data = path.read_bytes()
        vector = MachineLimits().as_vector()

        def run_kernel() -> None:
            kernel = CKernel(vector)
            kernel.feed(data)
            kernel.finish()

        kernel_only = lines / _best(run_kernel, repeat)
    py = lines / _best(lambda: analyse_file(path, kernel="python"), max(1, repeat // 2))
    naive = lines / _best(lambda: naive_analysis(path), max(1, repeat // 2))
    return Speed(path.name, lines, c, kernel_only, py, naive)


def _slicer_figures(text: str) -> tuple[float | None, float]:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    time_s: float | None = None
    if m := re.search(r"^; estimated printing time \(normal mode\) = (.+)$", text, re.M):
        time_s = sum(float(v) * units[u] for v, u in re.findall(r"(\d+)([dhms])", m.group(1)))
    elif m := re.search(r"^;TIME:(\d+)", text, re.M):
        time_s = float(m.group(1))
    if m := re.search(r"^; filament used \[mm\] = ([\d.]+)", text, re.M):
        filament = float(m.group(1))
    elif m := re.search(r"^;Filament used: ([\d.]+)m", text, re.M):
        filament = float(m.group(1)) * 1000
    elif m := re.search(r"^; filament used = ([\d.]+)mm", text, re.M):
        filament = float(m.group(1))
    else:
        filament = math.nan
    return time_s, filament


def measure_accuracy(path: Path, workdir: Path) -> Accuracy:
    text = path.read_text(errors="replace")
    slicer_time, slicer_filament = _slicer_figures(text)
    full = analyse_file(path)
    stripped = workdir / f"stripped_{path.name}"
    stripped.write_text(
        "".join(
            line.split(";", 1)[0].strip() + "\n"
            for line in text.splitlines()
            if line.split(";", 1)[0].strip()
        )
    )
    config = dict(re.findall(r"^; (machine_\w+) = (.*)$", text, re.M))
    profile = MachineLimits.from_slicer_config(config)
    with_profile = analyse_file(stripped, profile).computed_time_s if profile else None
    bare = analyse_file(stripped)
    return Accuracy(
        file=path.name,
        slicer_time_s=slicer_time,
        slicer_filament_mm=slicer_filament,
        reported_time_s=full.estimated_time_s,
        computed_time_s=full.computed_time_s,
        stripped_profile_time_s=with_profile,
        stripped_default_time_s=bare.computed_time_s,
        reported_filament_mm=full.filament_length_mm,
        stripped_filament_mm=bare.filament_length_mm,
        naive_time_s=naive_analysis(stripped)[0],
    )


def _pct(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or not theirs:
        return "n/a"
    return f"{(ours - theirs) / theirs * 100:+.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-lines", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    fixtures = sorted(FIXTURES.glob("*.gcode"))
    speeds: list[Speed] = []
    accuracy: list[Accuracy] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for path in fixtures:
            speeds.append(measure_speed(path, args.repeat))
            accuracy.append(measure_accuracy(path, workdir))
        source = max(fixtures, key=lambda p: p.stat().st_size)
        data = source.read_bytes()
        copies = max(1, round(args.big_lines / data.count(b"\n")))
        big = workdir / f"big_{source.stem}_x{copies}.gcode"
        with big.open("wb") as out:
            for _ in range(copies):
                out.write(data)
        speeds.append(measure_speed(big, max(1, args.repeat - 1)))

    print(
        "| file | lines | C kernel lines/s | (C hot loop only) | pure Python lines/s "
        "| naive parser lines/s |"
    )
    print("|---|---|---|---|---|---|")
    for s in speeds:
        c = f"{s.c_lines_per_s:,.0f}" if s.c_lines_per_s else "(not built)"
        k = f"{s.c_kernel_only_lines_per_s:,.0f}" if s.c_kernel_only_lines_per_s else "n/a"
        print(
            f"| {s.file} | {s.lines:,} | {c} | {k} | {s.python_lines_per_s:,.0f} "
            f"| {s.naive_lines_per_s:,.0f} |"
        )
    print()
    print(
        "| file | slicer time | reported | ours (with comments) | stripped + profile "
        "| stripped, defaults | naive | slicer filament | reported | stripped |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for a in accuracy:
        st = f"{a.slicer_time_s:.0f} s" if a.slicer_time_s else "n/a"
        print(
            f"| {a.file} | {st} | {_pct(a.reported_time_s, a.slicer_time_s)} "
            f"| {a.computed_time_s:.0f} s ({_pct(a.computed_time_s, a.slicer_time_s)}) "
            f"| {_pct(a.stripped_profile_time_s, a.slicer_time_s)} "
            f"| {a.stripped_default_time_s:.0f} s "
            f"({_pct(a.stripped_default_time_s, a.slicer_time_s)}) "
            f"| {_pct(a.naive_time_s, a.slicer_time_s)} "
            f"| {a.slicer_filament_mm:.2f} mm "
            f"| {_pct(a.reported_filament_mm, a.slicer_filament_mm)} "
            f"| {_pct(a.stripped_filament_mm, a.slicer_filament_mm)} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"speed": [asdict(s) for s in speeds], "accuracy": [asdict(a) for a in accuracy]},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
