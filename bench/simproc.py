"""The benchmarks' printer: ``fabfleet-sim`` with Marlin's default buffers at 250000 baud."""

from __future__ import annotations

from instance.sim.process import BIN, SimulatorProcess, simulator_process

# 250000 baud pacing, BUFSIZE 4, a 128-byte receive buffer.
BENCH_PRINTER = ("--baud", "250000", "--command-buffer", "4", "--rx-buffer", "128")

SimProcess = SimulatorProcess
simulator = simulator_process

__all__ = ["BENCH_PRINTER", "BIN", "SimProcess", "simulator"]
