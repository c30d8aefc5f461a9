"""A big upload streams to disk: the server's memory stays flat while 200 MB arrive."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from tests.web.big_upload import BOUNDARY, LINE, MB, PeakRss, write_upload_body
from tests.web.server import running_server

pytestmark = pytest.mark.timeout(300)


def test_a_200_mb_upload_keeps_the_servers_memory_flat(tmp_path: Path):
    body = tmp_path / "body.bin"
    size = write_upload_body(body, "big.gcode", 200 * MB)
    with running_server(tmp_path) as server:
        # Warm up the upload path (thread pool, multipart reader) with a small file.
        assert server.upload("small.gcode", LINE * 1000).status_code == 201
        time.sleep(0.5)
        before = psutil.Process(server.process.pid).memory_info().rss
        watcher = PeakRss(server.process.pid)
        watcher.start()
        with body.open("rb") as stream:
            answer = server.post(
                "/api/files/local",
                data=stream,
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
        watcher.running = False
        watcher.join()
        assert answer.status_code == 201, answer.text
        stored = server.files_dir / "big.gcode"
        assert stored.stat().st_size == size
        growth = (watcher.peak - before) / MB
        assert growth < 16, f"RSS grew {growth:.1f} MB during a 200 MB upload"
