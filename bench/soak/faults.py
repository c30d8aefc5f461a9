"""Playing each fault of the plan on the running stack, as the world would do it to a farm."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.soak.plan import (
    KILL_PRINT_SERVER,
    REBOOT,
    RELOAD_NGINX,
    RESTART_ENGINE,
    RESTART_HUB,
    UNPLUG,
    Fault,
)
from bench.soak.stack import KILL_WITHIN, SoakStack, docker_kill
from orchestrator.model.paths import PROXY_CONF

ENGINE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "docker-engine"
DOCKER_PID = Path("/var/run/docker.pid")
# Held while the engine restarts: a fault due then waits for it instead of failing on a
# missing socket (the 100-printer run's harness fell 2 min behind its plan on a saturated
# host, and 9 faults fell due while dockerd was down).
ENGINE = threading.Lock()
ENGINE_STOP_WITHIN = 180.0  # 200 containers stop in parallel, 10 s each at most


@dataclass
class Played:
    """A fault as it happened: when it began and ended (Unix time), and what came of it."""

    fault: Fault
    began: float
    ended: float
    note: str = ""
    error: str = ""


def _unplug(stack: SoakStack, printer: str, seconds: float) -> str:
    sim = stack.containers()[f"sim-{printer}"]
    sim.stop(timeout=5)
    time.sleep(seconds)
    sim.start()
    return f"sim-{printer} stopped for {seconds:g} s"


def _kill_print_server(stack: SoakStack, printer: str) -> str:
    container = stack.containers()[f"printer-{printer}"]
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    if pid <= 0:
        return f"printer-{printer} was not running"
    # From the host, as the OOM killer or a crash would: Docker's restart policy applies.
    os.kill(pid, signal.SIGKILL)
    return f"printer-{printer} (pid {pid}) SIGKILLed"


def _restart_hub(stack: SoakStack) -> str:
    stack.containers()["hub"].restart(timeout=10)
    return "hub restarted"


def _reload_nginx(stack: SoakStack) -> str:
    done = stack.containers()["proxy"].exec_run(["nginx", "-c", PROXY_CONF, "-s", "reload"])
    if done.exit_code != 0:
        raise RuntimeError(f"nginx -s reload: exit {done.exit_code}: {done.output!r}")
    return "nginx reloaded"


def _reboot(stack: SoakStack, engine_restarts: bool) -> str:
    found = stack.containers()
    wedged = ""
    if not docker_kill([str(c.id) for c in found.values()]):
        # A real reboot restarts the engine too; only that frees a container it holds.
        if not engine_restarts:
            raise RuntimeError(
                f"`docker kill` of {len(found)} containers hung for {KILL_WITHIN:.0f} s (the "
                "engine holds a container); engine restarts not allowed (--engine-restart)"
            )
        wedged = f"`docker kill` hung for {KILL_WITHIN:.0f} s, so the engine was restarted "
        wedged += f"({_restart_engine(stack)}); "
    time.sleep(2)
    up = stack.up()
    return (
        f"{len(found)} containers SIGKILLed, {wedged}then `fabfleet up`: "
        f"{up.strip().splitlines()[-1]}"
    )


def _restart_engine(stack: SoakStack) -> str:
    """dockerd stopped as at a shutdown (SIGTERM: it stops every container) and started again
    the way tests start it (scripts/docker-engine); the restart policy brings the stack back."""
    if ENGINE.locked():  # a reboot's own restart while the planned one runs
        with ENGINE:
            return "the engine was being restarted already"
    with ENGINE:
        return _stop_and_start_engine()


def _stop_and_start_engine() -> str:
    pid = int(DOCKER_PID.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + ENGINE_STOP_WITHIN
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(
            f"dockerd (pid {pid}) still running {ENGINE_STOP_WITHIN:.0f} s after SIGTERM"
        )
    started = subprocess.run([str(ENGINE_SCRIPT)], capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/docker-engine: {started.stderr}")
    return f"dockerd (pid {pid}) stopped and started again"


def play(stack: SoakStack, fault: Fault, engine_restarts: bool = False) -> Played:
    """Do ``fault`` now (blocking: an unplug lasts its seconds). ``engine_restarts``: the run
    may restart the Docker engine (a reboot does when the engine holds a container)."""
    if fault.kind != RESTART_ENGINE:
        with ENGINE:
            pass
    began = time.time()
    try:
        if fault.kind == UNPLUG:
            assert fault.printer is not None
            note = _unplug(stack, fault.printer, fault.seconds)
        elif fault.kind == KILL_PRINT_SERVER:
            assert fault.printer is not None
            note = _kill_print_server(stack, fault.printer)
        elif fault.kind == RESTART_HUB:
            note = _restart_hub(stack)
        elif fault.kind == RELOAD_NGINX:
            note = _reload_nginx(stack)
        elif fault.kind == REBOOT:
            note = _reboot(stack, engine_restarts)
        elif fault.kind == RESTART_ENGINE:
            note = _restart_engine(stack)
        else:
            raise ValueError(f"not a host fault: {fault.kind}")
    except Exception as error:
        return Played(fault, began, time.time(), error=f"{type(error).__name__}: {error}")
    return Played(fault, began, time.time(), note)
