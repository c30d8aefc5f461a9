"""``GET /api/v1/me`` without the hub: the API key's user may act; so may anyone without a key.

Gate mode (the hub's signed identity) is in ``test_gate_identity.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.web.server import running_server

pytestmark = pytest.mark.timeout(180)


def test_the_api_keys_user_may_act(tmp_path: Path) -> None:
    with running_server(tmp_path, "--api-user", "slicer-pc") as served:
        answer = served.get("/api/v1/me")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"user": "slicer-pc", "may_act": True}
        # Without the key: refused, like every other endpoint.
        assert requests.get(served.url + "/api/v1/me", timeout=30).status_code == 401


def test_without_a_key_anyone_may_act(tmp_path: Path) -> None:
    with running_server(tmp_path, key=None) as served:
        assert served.get("/api/v1/me").json() == {"user": "anonymous", "may_act": True}
