"""What the host spends on the soak: its CPU (``/proc/stat``) and each container's memory and
CPU from its cgroup, sampled all run long."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from docker.errors import NotFound
from docker.models.containers import Container

from bench.stack_proxy import Cgroup


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host since boot."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def docker_time(text: str) -> float:
    """Unix time of Docker's ``2026-12-05T01:03:12.123456789Z`` (nanoseconds and all)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return seconds + float(f"0.{fraction or 0}")


@dataclass(frozen=True)
class Sample:
    """One container at one moment: when it last started, its anonymous memory (what a leak
    grows) and all its charged memory, in MiB, and the CPU seconds it used since it started."""

    at: float
    started: float
    anon_mib: float
    total_mib: float
    cpu_seconds: float


@dataclass
class Sampler:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    host: list[tuple[float, float, float]] = field(default_factory=list)  # (at, busy, total)

    def sample(self, found: dict[str, Container]) -> None:
        now = time.time()
        busy, total = cpu_times()
        self.host.append((now, busy, total))
        for service, container in found.items():
            with contextlib.suppress(NotFound, OSError, KeyError, ValueError):
                container.reload()
                if container.status != "running":
                    continue
                cgroup = Cgroup(container)
                total_mib, anon_mib = cgroup.memory_mib()
                started = docker_time(str(container.attrs["State"]["StartedAt"]))
                self.samples.setdefault(service, []).append(
                    Sample(now, started, anon_mib, total_mib, cgroup.cpu_seconds())
                )

    def host_cpu_percent(self) -> float:
        """Busy share of all cores over the run, in % of the whole host."""
        if len(self.host) < 2:
            return 0.0
        (_, busy0, total0), (_, busy1, total1) = self.host[0], self.host[-1]
        return 100.0 * (busy1 - busy0) / max(1.0, total1 - total0)
