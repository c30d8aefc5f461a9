"""A real Mosquitto broker (Debian's ``mosquitto``, installed by scripts/bootstrap) on a free
loopback port, for the hub's MQTT tests (power devices, publishing the fleet). It publishes
its ``$SYS`` counters every second, so a test can read how many subscriptions it holds.
The ``broker`` fixture (tests/hub/conftest.py) starts one per test."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = "/usr/sbin/mosquitto"
PASSWD = "/usr/bin/mosquitto_passwd"


@dataclass
class Broker:
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_broker(tmp_path: Path, port: int, users: dict[str, str] | None = None) -> Broker:
    """Mosquitto on ``port``; with ``users`` (name → password) it refuses anyone else."""
    conf = tmp_path / f"mosquitto-{port}.conf"
    access = "allow_anonymous true\n"
    if users is not None:
        passwords = tmp_path / f"mosquitto-{port}.passwd"
        passwords.touch(0o600)
        for name, password in users.items():
            subprocess.run(
                [PASSWD, "-b", str(passwords), name, password], check=True, capture_output=True
            )
        # Read after mosquitto drops root for its own user: stay the test's user instead.
        me = pwd.getpwuid(os.getuid()).pw_name
        access = f"allow_anonymous false\npassword_file {passwords}\nuser {me}\n"
    conf.write_text(
        f"listener {port} 127.0.0.1\n{access}persistence false\nsys_interval 1\nlog_dest stderr\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    broker = Broker(port, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = paho.Client(CallbackAPIVersion.VERSION2)
        try:
            probe.connect("127.0.0.1", port)
            probe.disconnect()
            return broker
        except OSError:
            time.sleep(0.05)
    broker.stop()
    raise RuntimeError("mosquitto did not start")
