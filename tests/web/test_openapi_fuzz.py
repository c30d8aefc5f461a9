"""A property-based run over the OpenAPI description against the running server: no 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.server import KEY, running_server

pytestmark = pytest.mark.timeout(180)

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_the_described_api_never_answers_with_a_server_error(tmp_path: Path):
    with running_server(tmp_path) as server:
        spec = server.get("/api/v1/openapi.json").json()
        assert spec["openapi"] == "3.1.0"
        assert "/api/v1/files" in spec["paths"]
        run = subprocess.run(
            [
                str(SCHEMATHESIS), "run", server.url + "/api/v1/openapi.json",
                "--header", f"X-Api-Key: {KEY}",
                "--checks", "not_a_server_error",
                "--max-examples", "20",
                "--max-time", "40",
                "--seed", "7",
                "--request-timeout", "20",
            ],
            capture_output=True, text=True, timeout=150, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert " passed" in run.stdout
        assert "failed" not in run.stdout.split("SUMMARY", 1)[-1]
        # The server is still up and well after thousands of odd requests.
        assert server.get("/api/health").status_code == 200
