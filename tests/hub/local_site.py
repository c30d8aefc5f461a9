"""The stack's gate without Docker: real print servers on simulated printers, the hub, a
camera stand-in and nginx rendered from the stack's own template, all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from hub.app import schemas
from hub.auth.accounts import make_grants
from hub.db import open_database
from orchestrator.demo.runtime import Demo, find_nginx
from orchestrator.fleet.model import Site
from orchestrator.rendering.nginx import ProxySettings
from orchestrator.rendering.render import render_nginx
from orchestrator.stack.secrets import PROXY_KEY_CONF
from tests.hub.conftest import (
    HubProcess,
    free_ports,
    gate_key_path,
    printer_entry,
    start_hub_process,
)

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


@dataclass
class LocalSite:
    url: str
    hub: HubProcess
    printers: dict[str, str]
    camera: str
    # nginx's config, logs and scratch files.
    proxy_dir: Path

    def add_user(self, name: str, role: str, password: str, **grants: Any) -> None:
        from hub.auth.accounts import create_user

        db = open_database(self.hub.data_dir / "hub.sqlite", schemas())
        try:
            create_user(db, name, password, role, make_grants(**grants))
        finally:
            db.close()

    def api_key(self, user: str, name: str) -> tuple[int, str]:
        from hub.auth.api_keys import create_key

        db = open_database(self.hub.data_dir / "hub.sqlite", schemas())
        try:
            return create_key(db, user, name)
        finally:
            db.close()

    def login(self, name: str, password: str) -> requests.Session:
        session = requests.Session()
        answer = session.post(
            self.url + "api/login", json={"username": name, "password": password}, timeout=60
        )
        answer.raise_for_status()
        session.headers["X-CSRF-Token"] = answer.json()["csrf"]
        return session


def _camera_stand_in(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """A camera's HTTP face (what ustreamer answers at /snapshot and /state)."""
    directory.mkdir(parents=True)
    (directory / "snapshot").write_bytes(JPEG)
    (directory / "state").write_text(json.dumps({"ok": True}))
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, timeout=10).status_code < 500:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer")
        time.sleep(0.1)


@contextmanager
def local_site(tmp_path: Path, printers: int, groups: dict[str, list[str]]) -> Iterator[LocalSite]:
    """``printers`` simulated printers demo-1…; ``groups[name]`` are that printer's groups;
    camera ``cam1`` belongs to demo-1."""
    demo = Demo(tmp_path, printers, free_ports(1), 50.0)
    processes: list[subprocess.Popen[Any]] = []
    hub: HubProcess | None = None
    try:
        demo.start_printers(lambda _line: None)
        camera_port = free_ports(1)
        processes.append(_camera_stand_in(tmp_path / "camera", camera_port))
        fleet = {
            "site": {"max_heating": 0},
            "printers": [
                printer_entry(
                    p.name, p.url, groups=groups.get(p.name, []),
                    camera="cam1" if p.name == "demo-1" else None,
                )
                for p in demo.printers
            ],
            "cameras": [{"name": "cam1", "path": "/cameras/cam1/",
                         "upstream": f"http://127.0.0.1:{camera_port}"}],
        }  # fmt: skip
        hub = start_hub_process(tmp_path / "hub", fleet, gate_key_file=gate_key_path(tmp_path))
        proxy_dir = tmp_path / "proxy"
        (proxy_dir / "scratch").mkdir(parents=True)
        port = free_ports(1)
        conf = render_nginx(
            Site(http_port=port, ipv6=False),
            {p.name: p.address for p in demo.printers},
            {"cam1": f"127.0.0.1:{camera_port}"},
            ProxySettings(
                hub=hub.url.removeprefix("http://").rstrip("/"),
                resolver=None,
                listen_host="127.0.0.1:",
                scratch=str(proxy_dir / "scratch"),
                access_log=str(proxy_dir / "access.log"),
                gate_key_conf=str(tmp_path / PROXY_KEY_CONF),
            ),
        )
        (proxy_dir / "nginx.conf").write_bytes(conf)
        user = " user root;" if os.geteuid() == 0 else ""
        command = [find_nginx(), "-p", str(proxy_dir), "-c", str(proxy_dir / "nginx.conf"),
                   "-e", "stderr", "-g", f"daemon off;{user}"]  # fmt: skip
        with (proxy_dir / "nginx.log").open("w") as log:
            processes.append(subprocess.Popen(command, stdout=log, stderr=log))
        url = f"http://127.0.0.1:{port}/"
        _wait(url + "healthz")
        _wait(f"http://127.0.0.1:{camera_port}/state")
        yield LocalSite(url, hub, {p.name: p.url for p in demo.printers}, "cam1", proxy_dir)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        if hub is not None:
            hub.stop()
        demo.stop()
