"""The still frame OctoPrint clients (Home Assistant's camera) are told to fetch, from the
stream the print server was given: ustreamer answers both mjpg-streamer's query form and
its own paths, and fabfleet's stack passes the camera's path through the proxy."""

from __future__ import annotations

import pytest

from instance.web.octoprint_api import _snapshot


@pytest.mark.parametrize(
    ("stream", "snapshot"),
    [
        ("/cameras/top/stream", "/cameras/top/snapshot"),
        (
            "http://farm.example/cameras/cam1/?action=stream",
            "http://farm.example/cameras/cam1/?action=snapshot",
        ),
        (
            "http://farm.example/webcam/?action=stream",
            "http://farm.example/webcam/?action=snapshot",
        ),
        ("rtsp://camera.local/live", ""),
        (None, ""),
    ],
)
def test_the_snapshot_beside_the_stream(stream: str | None, snapshot: str) -> None:
    assert _snapshot(stream) == snapshot
