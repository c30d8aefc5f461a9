"""`fabfleet-hub user …` as a person runs it: real processes, a real terminal for the prompt,
and a running hub that sees the changes."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import requests

from tests.hub.conftest import BIN, HubProcess, login

PASSWORD = "correct horse battery"


def hub_cli(
    data_dir: Path, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``fabfleet-hub user ARGS --data-dir DATA_DIR``, the password (if any) on stdin."""
    return subprocess.run(
        [str(BIN / "fabfleet-hub"), "user", *args, "--data-dir", str(data_dir)],
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )


def at_terminal(argv: list[str], answers: list[str]) -> tuple[int, str]:
    """Run ``argv`` on a new pseudo-terminal, typing each answer after each prompt."""
    with warnings.catch_warnings():
        # Newer Pythons warn about forking a process with threads; the child execs at once.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the terminal as its controlling tty
        os.execv(argv[0], argv)
    screen = b""

    def read(until: bytes | None) -> None:
        """Read until the new output ends with ``until`` (None: until the command ends)."""
        nonlocal screen
        start = len(screen)
        deadline = time.monotonic() + 60
        while until is None or not screen[start:].endswith(until):
            assert time.monotonic() < deadline, f"no prompt; the screen: {screen!r}"
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the command has ended
                return
            if not chunk:
                return
            screen += chunk

    try:
        for answer in answers:
            read(b": ")
            os.write(fd, answer.encode() + b"\n")
        read(None)
    finally:
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(pid, signal.SIGKILL)
            done = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(done[1]), screen.decode(errors="replace")


def test_the_first_admin_then_users_with_grants(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    added = hub_cli(data, "add", "ada", "--admin", "--password-stdin", password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added ada (admin; every printer)"
    assert oct((data / "hub.sqlite").stat().st_mode & 0o777) == "0o600"
    bob = hub_cli(data, "add", "bob", "--role", "operator", "--printer", "mk3", "--printer",
                  "mini", "--group", "lab", "--password-stdin", password=PASSWORD)  # fmt: skip
    assert bob.returncode == 0, bob.stderr
    assert bob.stdout.strip() == "added bob (operator; printer mini, printer mk3, group lab)"
    cy = hub_cli(data, "add", "cy", "--all-printers", "--password-stdin", password=PASSWORD)
    assert cy.stdout.strip() == "added cy (viewer; every printer)"

    listed = hub_cli(data, "list", "--json")
    assert listed.returncode == 0
    users = {u["name"]: u for u in json.loads(listed.stdout)}
    assert users["bob"]["role"] == "operator"
    assert users["bob"]["grants"] == {"printers": ["mini", "mk3"], "groups": ["lab"]}
    assert users["cy"]["grants"] == {"printers": ["*"], "groups": []}
    table = hub_cli(data, "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "GRANTS"]
    assert table[2].split()[:2] == ["bob", "operator"]


def test_refusals_are_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    hub_cli(data, "add", "ada", "--admin", "--password-stdin", password=PASSWORD)
    cases = [
        (["add", "ada", "--password-stdin"], PASSWORD, "a user named 'ada' already exists"),
        (["add", "bob", "--password-stdin"], "short", "the password is too short: at least 10 "
         "characters, got 5"),
        (["add", "bob", "--password-stdin"], "   ", "the password is empty (or only spaces)"),
        (["add", "bad name", "--password-stdin"], PASSWORD, "a user name is 1-64 letters, "
         "digits, '.', '-' or '_', not 'bad name'"),
        (["add", "bob", "--printer", "no way", "--password-stdin"], PASSWORD,
         "'no way' is not a printer name"),
        (["remove", "ghost"], None, "no user named 'ghost'"),
        (["passwd", "ghost", "--password-stdin"], PASSWORD, "no user named 'ghost'"),
        (["remove", "ada"], None, "cannot remove 'ada': it is the last admin; make another "
         "admin first"),
    ]  # fmt: skip
    for args, password, message in cases:
        done = hub_cli(data, *args, password=password)
        assert done.returncode == 1, args
        assert done.stderr == f"fabfleet-hub: {message}\n", args
        assert done.stdout == "", args
    assert [u["name"] for u in json.loads(hub_cli(data, "list", "--json").stdout)] == ["ada"]


def test_without_a_data_dir_it_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "fabfleet-hub"), "user", "list"],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "fabfleet-hub: --data-dir (or FABFLEET_DATA_DIR) is required"
    by_variable = subprocess.run(
        [str(BIN / "fabfleet-hub"), "user", "list"], capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "FABFLEET_DATA_DIR": str(tmp_path / "d")},
    )  # fmt: skip
    assert by_variable.returncode == 0
    assert "no users yet" in by_variable.stdout
    assert "fabfleet-hub user add NAME --admin" in by_variable.stdout


def test_the_prompt_asks_twice_and_hides_what_is_typed(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    command = [str(BIN / "fabfleet-hub"), "user", "add", "ada", "--admin", "--data-dir", str(data)]
    status, screen = at_terminal(command, ["first long password", "second long password"])
    assert status == 1
    assert "fabfleet-hub: the passwords do not match" in screen
    assert "first long password" not in screen and "second long password" not in screen
    assert not (data / "hub.sqlite").exists() or "ada" not in hub_cli(data, "list").stdout

    status, screen = at_terminal(command, [PASSWORD, PASSWORD])
    assert status == 0, screen
    assert screen.count("password: ") + screen.count("Repeat it: ") == 2
    assert "added ada (admin; every printer)" in screen
    assert PASSWORD not in screen


def test_a_running_hub_sees_what_the_command_does(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub()
    data = hub.data_dir
    added = hub_cli(data, "add", "bob", "--role", "operator", "--password-stdin",
                    password=PASSWORD)  # fmt: skip
    assert added.returncode == 0, added.stderr
    bob = login(hub.url, "bob", PASSWORD)
    assert bob.get(hub.url + "api/me").json()["role"] == "operator"

    changed = hub_cli(data, "passwd", "bob", "--password-stdin", password="a new long password")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "changed the password of bob; their sessions have ended"
    assert bob.get(hub.url + "api/me").status_code == 401
    old = requests.post(hub.url + "api/login", json={"username": "bob", "password": PASSWORD})
    assert old.status_code == 401
    bob = login(hub.url, "bob", "a new long password")

    removed = hub_cli(data, "remove", "bob")
    assert removed.returncode == 0 and "removed bob" in removed.stdout
    assert bob.get(hub.url + "api/me").status_code == 401
