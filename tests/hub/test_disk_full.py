"""The hub on a full disk: queueing refused with 507 and a sentence, reads go on, nothing
crashes or is damaged, and everything works again once space returns."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import requests

from hub.auth.signing import proxy_key, read_master_key
from tests.hub.conftest import BIN, HubProcess, add_admin, login, start_hub_process
from tests.hub.test_queue_api import PASSWORD, SQUARE, entries, fleet, post, stored
from tests.small_volume import MB, chunked_upload, fill, integrity, small_volume
from tests.web.big_upload import BOUNDARY


def checkpoint(database: Path) -> None:
    """Copy the write-ahead log into the database and empty it (SQLite's TRUNCATE)."""
    db = sqlite3.connect(database)
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        db.close()


def test_a_full_hub_disk_refuses_changes_clearly_and_keeps_serving(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    with small_volume(tmp_path / "hub0", 24) as volume:
        hub = start_hub(fleet())
        add_admin(hub, "ada", PASSWORD)
        ada = login(hub.url, "ada", PASSWORD)
        square = SQUARE.read_bytes()

        # Larger than the free space less the database's margin: refused before it is read.
        too_big = post(ada, hub, b"G1 X1 Y1\n" * (1 + 12 * MB // 9), target="printer:mk3")
        assert too_big.status_code == 507, too_big.text
        assert "MB free" in too_big.json()["error"]

        # A file sent without a size, larger than the free space: the disk fills while it
        # is written; refused, nothing of it kept.
        filled = ada.post(
            hub.url + "api/queue",
            data=chunked_upload("chunked.gcode", 30 * MB),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=60,
        )
        assert filled.status_code == 507, filled.text
        assert "filled up" in filled.json()["error"]
        assert stored(hub) == []

        # The hub's next write must take new blocks (its write-ahead log emptied), then
        # there are none.
        checkpoint(hub.data_dir / "hub.sqlite")
        filler = fill(volume)
        # The gate still lets an operator act on a printer (a cancel must get through):
        # with no room in the audit log the act goes to the hub's log instead.
        cancel = ada.get(
            hub.url + "api/auth/check",
            headers={
                "X-Fabfleet-Proxy-Key": proxy_key(read_master_key(hub.gate_key_file)).hex(),
                "X-Fabfleet-Route": "printers/mk3",
                "X-Fabfleet-Uri": "/printers/mk3/api/job",
                "X-Original-URI": "/printers/mk3/api/job",
                "X-Original-Method": "POST",
            },
            timeout=10,
        )
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["act"] is True
        refused = post(ada, hub, square, target="printer:mk3")
        assert refused.status_code == 507, refused.text
        assert "disk" in refused.json()["error"]
        assert stored(hub) == []
        # Reads go on: the queue, the fleet, the pages.
        assert entries(ada, hub) == {}
        assert ada.get(hub.url + "api/fleet", timeout=10).status_code == 200
        assert ada.get(hub.url, timeout=10).status_code == 200
        # A new login needs a session row: refused with the reason, never an internal error.
        answer = requests.post(
            hub.url + "api/login", json={"username": "ada", "password": PASSWORD}, timeout=30
        )
        assert answer.status_code == 507, answer.text
        assert "the hub's disk is full" in answer.json()["error"]
        assert hub.process.poll() is None

        # Room again: queueing works without a restart, and the database is whole.
        filler.unlink()
        queued = post(ada, hub, square, target="printer:mk3")
        assert queued.status_code == 201, queued.text
        assert len(entries(ada, hub)) == 1
        assert len(stored(hub)) == 1
        hub.stop()

        # Started on a disk with no room for SQLite's shared memory (a host rebooted): the
        # hub says why and stops (its container starts it again), and starts once there
        # is room, with everything it had.
        filler = fill(volume)
        stopped = subprocess.run(
            [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(hub.data_dir),
             "--fleet-file", str(hub.fleet_file), "--listen", "127.0.0.1:0",
             "--gate-key-file", str(hub.gate_key_file)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert stopped.returncode == 1
        assert "the hub's disk is full: its database cannot be opened" in stopped.stderr
        assert "Traceback" not in stopped.stderr
        filler.unlink()
        again = start_hub_process(hub.data_dir, fleet(), gate_key_file=hub.gate_key_file)
        try:
            assert len(entries(ada, again)) == 1
        finally:
            again.stop()
        assert integrity(hub.data_dir / "hub.sqlite") == "ok"
