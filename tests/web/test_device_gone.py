"""A print server whose device stays gone exits with 75, so its container is started again.

Real processes throughout: ``fabfleet-instance serve`` on ``fabfleet-sim`` behind a
pty link or a TCP port. "Gone" is the simulator stopped (its pty and link removed,
its port refusing) or a simulated unplug; "back" is a simulator started again on
the same link.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from instance.sim.process import BIN, SimulatorProcess, simulator_process, stop_process
from instance.web.config import ConfigError, load_config
from instance.web.server import EXIT_DEVICE_GONE
from tests.web.server import Served, gcode_head, start_server

pytestmark = pytest.mark.timeout(180)

SLOW = ("--fault", "slow_planner:delay=0.01")
JOB = gcode_head("cube_prusa_marlin2.gcode", 3000)


@contextlib.contextmanager
def serving(
    sim: SimulatorProcess, data_dir: Path, *args: str, wait_ready: bool = True
) -> Iterator[Served]:
    """A print server that outlives ``sim`` if need be; stopped (if still running) at the end."""
    served = start_server(sim, data_dir, *args, wait_ready=wait_ready)
    try:
        yield served
    finally:
        served.http.close()
        stop_process(served.process)


def print_until_busy(served: Served) -> int:
    """Start the job and wait until the printer is working through it; the job's id."""
    assert served.upload("cube.gcode", JOB).status_code == 201
    started = served.post("/api/v1/job", json={"file": "cube.gcode"})
    assert started.status_code == 201, started.text
    served.wait_for(
        lambda: (served.get("/api/v1/printer").json()["job"] or {}).get("lines_done", 0) > 50
    )
    job_id: int = served.get("/api/v1/printer").json()["job"]["id"]
    return job_id


def errors_until_exit(served: Served, seconds: float) -> tuple[list[str], float]:
    """Every ``error`` the API showed until the process exited; when it exited (monotonic)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while served.process.poll() is None:
        assert time.monotonic() < deadline, f"still running after {seconds} s"
        with contextlib.suppress(OSError):
            error = served.get("/api/v1/printer").json()["error"]
            if error and error not in seen:
                seen.append(error)
        time.sleep(0.05)
    return seen, time.monotonic()


def stderr_of(served: Served) -> str:
    assert served.process.stderr is not None
    return served.process.stderr.read()


@pytest.mark.parametrize("wire", ["pty", "tcp"])
def test_a_device_gone_for_the_timeout_ends_the_process_with_75_and_the_job_is_interrupted(
    tmp_path: Path, wire: str
):
    timeout = 3.0
    data = tmp_path / "data"
    with (
        simulator_process(tmp_path, *SLOW, tcp=wire == "tcp") as sim,
        serving(sim, data, "--device-gone-timeout", f"{timeout:g}") as served,
    ):
        job_id = print_until_busy(served)
        stop_process(sim.process)
        unplugged = time.monotonic()
        if wire == "pty":
            assert not os.path.lexists(sim.port), "the simulator removes its link when it stops"
        errors, exited = errors_until_exit(served, 30)
        assert served.process.returncode == EXIT_DEVICE_GONE
        # Measured from the loss, which came as the simulator stopped.
        assert timeout - 0.2 <= exited - unplugged <= timeout + 6
        log = stderr_of(served)
    # The countdown was shown while it ran, after the loss's own words.
    countdown = [e for e in errors if "; device gone for" in e]
    assert countdown, errors
    assert all(e.startswith("printer disconnected: ") for e in countdown)
    assert all(e.endswith(f"the print server restarts at {timeout:g} s") for e in countdown)
    # Between giving up and closing, the API may show why it gives up.
    given_up = [e for e in errors if e not in countdown and "device gone" in e]
    assert all(e.startswith("printer disconnected: device gone for 3 s") for e in given_up)
    assert f"exiting with status {EXIT_DEVICE_GONE}" in log
    assert "device gone for 3 s (limit 3 s)" in log
    assert sim.port.removeprefix("socket://") in log
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")], "no half-written files"

    # The orchestrator starts it again once the device is back: the history is all there.
    with (
        simulator_process(tmp_path, tcp=wire == "tcp") as back,
        serving(back, data, wait_ready=False) as again,
    ):
        again.wait_for(lambda: again.get("/api/v1/printer").json()["connected"], 60)
        jobs = again.get("/api/v1/history").json()["jobs"]
        assert again.state() == "bed not cleared"
    record = next(job for job in jobs if job["id"] == job_id)
    assert record["outcome"] == "interrupted"
    # Recorded by the running server as it lost the link, not recovered after a crash.
    assert record["reason"].startswith("printer disconnected: ")
    assert record["reason"].count("printer disconnected") == 1, record["reason"]
    assert record["last_line"] is not None and record["last_line"] > 50


def test_a_device_back_in_time_keeps_the_server_running_and_each_return_resets_the_clock(
    tmp_path: Path,
):
    timeout = 6.0
    data = tmp_path / "data"
    with simulator_process(tmp_path) as sim:
        served = start_server(sim, data, "--device-gone-timeout", f"{timeout:g}")
    try:
        gone_in_all = 0.0
        countdown: list[str] = []
        for _ in range(2):
            # The simulator is stopped: its pty and link are gone.
            since = time.monotonic()
            while time.monotonic() - since < 3.0:
                error = served.get("/api/v1/printer").json()["error"] or ""
                if "device gone for" in error:
                    countdown.append(error)
                time.sleep(0.1)
            with simulator_process(tmp_path) as sim:
                served.wait_state("ready", seconds=30)
                gone_in_all += time.monotonic() - since
                assert served.process.poll() is None
                snapshot = served.get("/api/v1/printer").json()
                assert snapshot["connected"] is True
                assert snapshot["error"] is None
        # Gone longer than the timeout in all, never that long at once.
        assert gone_in_all > timeout
        assert countdown
        assert all(f"restarts at {timeout:g} s" in error for error in countdown)
        time.sleep(1.0)
        assert served.process.poll() is None
    finally:
        served.http.close()
        stop_process(served.process)
    assert served.process.returncode != EXIT_DEVICE_GONE


def test_an_unplug_shorter_than_the_timeout_interrupts_the_job_and_the_server_reconnects(
    tmp_path: Path,
):
    # A network printer that refuses connections for 2 s (the simulator stops listening).
    fault = ("--fault", "unplug:at_line=300,seconds=2")
    with (
        simulator_process(tmp_path, *SLOW, *fault, tcp=True) as sim,
        serving(sim, tmp_path / "data", "--device-gone-timeout", "5") as served,
    ):
        job_id = print_until_busy(served)
        served.wait_state("offline", "failed", seconds=30)
        served.wait_for(lambda: served.get("/api/v1/printer").json()["connected"], 30)
        time.sleep(4.0)  # past the timeout, counted from the unplug
        assert served.process.poll() is None
        assert served.state() == "failed"  # an interrupted job leaves a part on the bed
        record = served.get(f"/api/v1/history/{job_id}").json()
        assert record["outcome"] == "interrupted"
        assert record["reason"].startswith("printer disconnected: ")


def test_zero_never_exits_and_keeps_trying(tmp_path: Path):
    with simulator_process(tmp_path) as sim:
        served = start_server(sim, tmp_path / "data", "--device-gone-timeout", "0")
    try:
        time.sleep(5.0)
        assert served.process.poll() is None
        snapshot = served.get("/api/v1/printer").json()
        assert snapshot["connected"] is False
        assert "device gone" not in (snapshot["error"] or "")
        with simulator_process(tmp_path):
            served.wait_state("ready", seconds=30)
    finally:
        served.http.close()
        stop_process(served.process)


def test_a_port_that_drops_the_host_before_the_printer_answers_stays_gone(tmp_path: Path):
    # The simulator serves one host; another one is told it is busy and dropped at once.
    with simulator_process(tmp_path, tcp=True) as sim:
        host, port = sim.port.removeprefix("socket://").rsplit(":", 1)
        with (
            socket.create_connection((host, int(port))),
            serving(
                sim, tmp_path / "data", "--device-gone-timeout", "2", wait_ready=False
            ) as served,
        ):
            started = time.monotonic()
            served.process.wait(timeout=30)
            assert served.process.returncode == EXIT_DEVICE_GONE
            assert time.monotonic() - started >= 1.8
            assert "device gone for 2 s" in stderr_of(served)


def test_a_silent_printer_is_there_not_gone(tmp_path: Path):
    """A port that opens but whose printer never answers is not a gone device."""
    master, slave = os.openpty()
    link = tmp_path / "printer"
    link.symlink_to(os.ttyname(slave))
    command = [str(BIN / "fabfleet-instance"), "serve", "--listen", "127.0.0.1:0",
               "--port", str(link), "--data-dir", str(tmp_path / "data"),
               "--device-gone-timeout", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" on ", 1)[1].strip()
        # Five handshakes 2 s apart go unanswered; then the port is opened again.
        time.sleep(13.0)
        assert process.poll() is None
        error = requests.get(url + "api/v1/printer", timeout=30).json()["error"]
        assert "no answer to the handshake" in error
        assert "device gone" not in error
    finally:
        stop_process(process)
        os.close(master)
        os.close(slave)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("text", "expected"), [("2", 2.0), ("0", 0.0), ("0.5", 0.5), (" 90 ", 90.0)]
)
def test_the_timeout_setting_accepts_seconds_and_zero(text: str, expected: float):
    given = {"port": "/dev/ttyACM0", "data_dir": "/d"}
    assert (
        load_config(given, {"FABFLEET_DEVICE_GONE_TIMEOUT": text}, None).device_gone_timeout
        == expected
    )
    assert (
        load_config({**given, "device_gone_timeout": text}, {}, None).device_gone_timeout
        == expected
    )
    assert load_config(given, {}, None).device_gone_timeout == 60.0


@pytest.mark.parametrize("text", ["-1", "abc", "", "nan", "inf", "-0.5"])
def test_a_bad_timeout_is_refused_with_its_source(tmp_path: Path, text: str):
    given = {"port": "/dev/ttyACM0", "data_dir": "/d"}
    refused = r"FABFLEET_DEVICE_GONE_TIMEOUT: .*(0 \(never\)|number of seconds)"
    with pytest.raises(ConfigError, match=refused):
        load_config(given, {"FABFLEET_DEVICE_GONE_TIMEOUT": text}, None)
    config_file = tmp_path / "instance.toml"
    config_file.write_text(f"device_gone_timeout = {text!r}\n")
    with pytest.raises(ConfigError, match=r"instance\.toml: device_gone_timeout: "):
        load_config(given, {}, config_file)


def test_serve_refuses_a_negative_timeout_at_start_up(tmp_path: Path):
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "serve", "--port", "/dev/ttyACM0", "--data-dir",
         str(tmp_path), "--device-gone-timeout", "-5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--device-gone-timeout: '-5': must be 0 (never) or a positive number of seconds" in (
        result.stderr
    )
