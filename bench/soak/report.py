"""The soak's report: everything as JSON, and a markdown page a person reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.soak.run import Result


def markdown(result: Result) -> str:
    s = result.settings
    lines = [
        f"# Fleet soak: {s['printers']} printers, {s['seconds'] / 60:g} min, seed {s['seed']}",
        "",
        f"**Losses: {len(result.losses)}**",
        "",
    ]
    lines += [f"- {loss}" for loss in result.losses] or ["(none)"]
    latency = result.latency
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| jobs | {result.jobs} ({_counts(result.outcomes)}) |",
        f"| queue entries | {_counts(_prefixed(result.counts, 'entries '))} |",
        f"| faults | {_counts(_prefixed(result.counts, 'faults '))} |",
        f"| streams compared with their file | {result.counts.get('streams compared', 0)} |",
        f"| resume offers checked | {result.counts.get('resume offers checked', 0)} |",
        f"| dashboard event-to-screen | p50 {latency.get('p50_ms', '-')} ms, "
        f"p95 {latency.get('p95_ms', '-')} ms, max {latency.get('max_ms', '-')} ms "
        f"({latency.get('samples', 0)} job ends); outside hub outages p50 "
        f"{latency.get('quiet_p50_ms', '-')} ms, p95 {latency.get('quiet_p95_ms', '-')} ms "
        f"({latency.get('quiet_samples', 0)}) |",
        f"| host CPU (both cores) | {result.host_cpu_percent} % |",
    ]
    lines += [f"| {k} | {v:.0f} s |" for k, v in result.timings.items()]
    lines += ["", "## Memory per container (anonymous MiB, start → end)", ""]
    lines += ["| container | start | end | restarted |", "|---|---|---|---|"]
    for row in result.memory:
        lines.append(
            f"| {row['service']} | {row['start_anon_mib']} | {row['end_anon_mib']} | "
            f"{'yes' if row['restarted'] else ''} |"
        )
    lines += ["", "## Faults played", ""]
    lines += [
        f"- {f['began']:.1f} {f['kind']}{' on ' + f['printer'] if f.get('printer') else ''}: "
        f"{f['note'] or f['error']}"
        for f in sorted(result.played, key=lambda f: f["began"])
    ]
    lines += ["", "## Simulated printers", ""]
    lines += [
        f"- {p['name']}: {p['firmware']}, faults {', '.join(p['faults']) or 'none'}"
        f"{', no ok after a resend' if p['ok_after_resend'] is False else ''}"
        for p in result.plan["printers"]
    ]
    lines += ["", "## Files", ""]
    lines += [
        f"- {f['name']}: the first {f['layers']} layer(s) of {f['source']}, {f['bytes']} bytes"
        for f in result.files
    ]
    if result.operator_errors:
        lines += ["", "## What the operator met (retried)", ""]
        lines += [f"- {e}" for e in result.operator_errors[:50]]
    return "\n".join(lines) + "\n"


def _prefixed(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in counts.items() if k.startswith(prefix)}


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def write(result: Result, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "soak.json"
    as_json.write_text(json.dumps(result.as_dict(), indent=1))
    page = directory / "soak.md"
    page.write_text(markdown(result))
    return as_json, page
