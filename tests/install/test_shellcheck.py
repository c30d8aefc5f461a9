"""The shell scripts a user runs as root are ShellCheck clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("script", ["install.sh", "kernel-patches/uvcvideo/fabfleet-uvc-build"])
def test_shellcheck_finds_nothing(script: str) -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(REPO / script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
