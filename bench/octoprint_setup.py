"""OctoPrint for the comparison: installed into a throwaway virtualenv outside the repository,
set up past its first run (a user with an API key, access control on, no wizard), and one
``octoprint serve`` per printer, as a farm runs it.

pip runs with the system's own configuration; nothing of OctoPrint is kept in the repository.
What the configuration sets and why: bench/README.md ("Side by side with OctoPrint").
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

OCTOPRINT_VERSION = "1.11.8"
# Plugins that call out to the internet (update checks, news, usage tracking, the plugin
# repository, crash reports) or announce the server on the network: off on an offline bench.
OFFLINE_PLUGINS = (
    "announcements",
    "discovery",
    "errortracking",
    "pluginmanager",
    "softwareupdate",
    "tracking",
)
USER = "bench"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fabfleet-bench"


def _python_for_octoprint() -> str:
    """A Python OctoPrint 1.11 runs on (3.7 to 3.13): this one, or python3 from PATH."""
    if (3, 7) <= sys.version_info[:2] <= (3, 13):
        return sys.executable
    found = shutil.which("python3")
    if found is None:
        raise RuntimeError("no python3 found for OctoPrint's virtualenv")
    return found


def install(cache: Path, version: str = OCTOPRINT_VERSION) -> Path:
    """The ``octoprint`` program of a virtualenv holding OctoPrint ``version`` (made once)."""
    venv = cache / f"octoprint-{version}"
    program = venv / "bin" / "octoprint"
    if program.exists():
        return program
    cache.mkdir(parents=True, exist_ok=True)
    print(f"installing OctoPrint {version} into {venv} (once) ...", flush=True)
    subprocess.run([_python_for_octoprint(), "-m", "venv", "--clear", str(venv)], check=True)
    log = cache / f"octoprint-{version}-pip.log"
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", f"OctoPrint=={version}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not program.exists():
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"pip could not install OctoPrint {version}: see {log}")
    return program


def installed_version(program: Path) -> str:
    done = subprocess.run(
        [str(program), "--version"], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().rsplit(" ", 1)[-1]


def config(port: int, links: str, baudrate: int) -> dict[str, Any]:
    """config.yaml for one instance: past the first run, offline, the printers' links allowed."""
    return {
        "server": {
            "firstRun": False,
            "host": "127.0.0.1",
            "port": port,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "pythonEolCheck": {"enabled": False},
        },
        "plugins": {"_disabled": list(OFFLINE_PLUGINS)},
        "serial": {
            "additionalPorts": [links],
            "baudrate": baudrate,
            "autoconnect": False,
        },
    }


def template_users(program: Path, work: Path) -> tuple[Path, str]:
    """users.yaml with an admin user (``octoprint user add``) holding a fresh API key."""
    basedir = work / "octoprint-template"
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(
        yaml.safe_dump({"server": {"firstRun": False}}), encoding="utf-8"
    )
    subprocess.run(
        [str(program), "--basedir", str(basedir), "user", "add", USER,
         "--password", secrets.token_urlsafe(16), "--admin"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    users_file = basedir / "users.yaml"
    users = yaml.safe_load(users_file.read_text(encoding="utf-8"))
    key = secrets.token_hex(16)
    users[USER]["apikey"] = key
    users_file.write_text(yaml.safe_dump(users), encoding="utf-8")
    users_file.chmod(0o600)
    return users_file, key


def prepare_basedir(basedir: Path, users: Path, port: int, links: str, baudrate: int) -> None:
    basedir.mkdir(parents=True, exist_ok=True)
    target = basedir / "config.yaml"
    target.write_text(yaml.safe_dump(config(port, links, baudrate)), encoding="utf-8")
    target.chmod(0o600)
    shutil.copy2(users, basedir / "users.yaml")


def serve_command(program: Path, basedir: Path, port: int) -> list[str]:
    command = [
        str(program), "--basedir", str(basedir), "serve", "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
    if os.geteuid() == 0:
        # OctoPrint refuses to start as root unless told; benches in containers run as root.
        command.append("--iknowwhatimdoing")
    return command
