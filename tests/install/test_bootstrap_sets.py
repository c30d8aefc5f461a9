"""scripts/bootstrap: the demo's set-up installs what the demo runs on, not the tests' tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
BOOTSTRAP = REPO / "scripts" / "bootstrap"
# What only the tests, the stack or the kernel module need: never the demo.
TEST_ONLY = (
    "docker.io",
    "dkms",
    "linux-source-6.1",
    "umockdev",
    "shellcheck",
    "debootstrap",
    "qemu-user-static",
    "busybox-static",
    "chromium",
)


def listed(*arguments: str) -> list[str]:
    result = subprocess.run(
        [str(BOOTSTRAP), *arguments, "--list"], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_the_demo_installs_only_what_it_runs_on() -> None:
    demo = listed("demo")
    assert "nginx-light" in demo
    assert [p for p in demo if p in TEST_ONLY or p.startswith("linux-headers-")] == []


def test_the_tests_install_everything() -> None:
    everything = listed("test")
    assert set(listed("demo")) <= set(everything)
    assert set(TEST_ONLY) <= set(everything)
    assert any(p.startswith("linux-headers-") for p in everything)
    # Without a set, bootstrap is the tests' (what scripts/test and CI run).
    assert listed() == everything


def test_the_readme_commands_pick_their_set() -> None:
    assert '"$top/scripts/bootstrap" demo\n' in (REPO / "scripts" / "demo").read_text()
    assert '"$top/scripts/bootstrap" test\n' in (REPO / "scripts" / "test").read_text()


def test_an_unknown_set_is_refused() -> None:
    result = subprocess.run([str(BOOTSTRAP), "everything"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == "usage: scripts/bootstrap [demo|test] [--list]\n"


@pytest.mark.parametrize("script", ["bootstrap", "demo", "test"])
def test_the_set_up_scripts_are_shellcheck_clean(script: str) -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(REPO / "scripts" / script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
