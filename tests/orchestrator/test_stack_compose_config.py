"""The real Compose v2 accepts every golden compose file (`docker compose config -q`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.stack.compose_runner import find_compose

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "compose.yaml").exists())


def config_check(directory: Path) -> subprocess.CompletedProcess[str]:
    compose = find_compose(os.environ.get("PATH"), Path(sys.executable).parent)
    return subprocess.run(
        [*compose.command, "-f", str(directory / "compose.yaml"), "config", "-q"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("case", CASES)
def test_compose_accepts_the_golden_file(case: str, tmp_path: Path) -> None:
    # With its neighbours, as in the state directory: the proxy and the hub mount theirs.
    shutil.copytree(GOLDEN / case, tmp_path, dirs_exist_ok=True)
    done = config_check(tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_check_is_not_vacuous(tmp_path: Path) -> None:
    text = (GOLDEN / "usb" / "compose.yaml").read_text()
    (tmp_path / "compose.yaml").write_text(
        text.replace("restart: unless-stopped", "restart: [x]", 1)
    )
    done = config_check(tmp_path)
    assert done.returncode != 0
    assert "restart" in done.stderr
