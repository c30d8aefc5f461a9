"""`fabfleet demo`: simulated printers with their pages, started and stopped as a user does."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from tests.orchestrator.umockdev import FABFLEET


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for start in range(18200, 19000, count):
        sockets = []
        try:
            for port in range(start, start + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise AssertionError("no free ports")


def get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        data: dict[str, object] = json.loads(answer.read())
        return data


def test_demo_runs_printers_with_pages_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_ports(2)
    demo = subprocess.Popen(
        [
            str(FABFLEET),
            "demo",
            "--printers",
            "2",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    lines = [demo.stdout.readline() for _ in range(4)]
    try:
        assert lines[0] == "starting 2 simulated printers (moves and heating 20x faster)\n"
        assert lines[1].startswith(f"demo-1: http://127.0.0.1:{port}/  (simulated Marlin on ")
        assert lines[2].startswith(f"demo-2: http://127.0.0.1:{port + 1}/  (simulated Marlin on ")
        assert lines[3] == "open a page, pick a file and press Print; Ctrl-C stops the demo\n"
        for offset, name in enumerate(("demo-1", "demo-2")):
            url = f"http://127.0.0.1:{port + offset}/"
            printer = get(url + "api/v1/printer")
            assert (printer["name"], printer["state"]) == (name, "ready")
            files = get(url + "api/v1/files")["files"]
            assert isinstance(files, list)
            assert {f["name"] for f in files} >= {"cube_prusa_marlin2.gcode"}
            with urllib.request.urlopen(url, timeout=10) as page:
                assert b'<h1 id="name">' in page.read()
    finally:
        demo.send_signal(signal.SIGINT)
        out, errors = demo.communicate(timeout=30)
    assert (demo.returncode, out, errors) == (0, "stopping\n", "")
    for offset in range(2):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port + offset)) != 0
    # Kept in --data-dir: each printer's files and logs.
    assert (tmp_path / "demo-1" / "data" / "files" / "cube_slic3r.gcode").exists()
    assert (tmp_path / "demo-2" / "server.log").exists()


def test_demo_says_which_printer_did_not_start(tmp_path: Path) -> None:
    port = free_ports(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [str(FABFLEET), "demo", "--printers", "1", "--port", str(port), "--data-dir",
             str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("fabfleet: the print server of demo-1 did not start: ")
    assert result.stderr.rstrip().endswith(f"(log: {tmp_path / 'demo-1'})")
