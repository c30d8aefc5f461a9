"""``fabfleet-instance serve`` as a real process on a real simulator, reached over HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from instance.sim.process import BIN, SimulatorProcess, simulator_process, stop_process

KEY = "test-key-0123456789"
GCODE = Path(__file__).resolve().parent.parent / "fixtures" / "gcode"


@dataclass
class Served:
    """A running print server: its URL, its data dir, a session that sends the API key."""

    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    sim: SimulatorProcess
    key: str | None
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        if self.key is not None:
            self.http.headers["X-Api-Key"] = self.key

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=120, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.delete(self.url + path, timeout=30, **kwargs)

    def upload(
        self, name: str, content: bytes, path: str = "/api/files/local", **fields: str
    ) -> requests.Response:
        return self.post(path, files={"file": (name, content)}, data=fields)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def state(self) -> str:
        state: str = self.get("/api/v1/printer").json()["state"]
        return state

    def wait_for(self, predicate: Callable[[], bool], seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not reached in {seconds} s; printer: {self.state()}")
            time.sleep(0.02)

    def wait_state(self, *states: str, seconds: float = 30.0) -> None:
        self.wait_for(lambda: self.state() in states, seconds)


def start_server(
    sim: SimulatorProcess,
    data_dir: Path,
    *args: str,
    key: str | None = KEY,
    env: Mapping[str, str] | None = None,
    wait_ready: bool = True,
) -> Served:
    command = [str(BIN / "fabfleet-instance"), "serve", "--listen", "127.0.0.1:0"]
    if "--port" not in args:
        command += ["--port", sim.port]
    if "--data-dir" not in args:
        command += ["--data-dir", str(data_dir)]
    if key is not None:
        command += ["--api-key", key]
    process = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if " on http://" not in first:
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise RuntimeError(f"the server did not start: {first!r} {errors}")
    served = Served(process, first.rsplit(" on ", 1)[1].strip().rstrip("/"), data_dir, sim, key)
    if wait_ready:
        # Generous: on a loaded machine start-up and the handshake take their time.
        served.wait_state("ready", seconds=60)
        # The first temperature report follows the handshake.
        served.wait_for(lambda: bool(served.get("/api/v1/printer").json()["heaters"]), 60)
    return served


@contextlib.contextmanager
def running_server(
    workdir: Path, *args: str, sim_args: tuple[str, ...] = (), **kwargs: Any
) -> Iterator[Served]:
    with simulator_process(workdir, *sim_args) as sim:
        served = start_server(sim, workdir / "data", *args, **kwargs)
        try:
            yield served
        finally:
            served.http.close()
            stop_process(served.process)


def gcode_head(source: str, lines: int) -> bytes:
    """The first ``lines`` lines of a fixture."""
    with (GCODE / source).open("rb") as f:
        return b"".join(line for _, line in zip(range(lines), f, strict=False))
