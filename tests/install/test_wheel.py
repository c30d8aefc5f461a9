"""The built wheel works without a checkout: installed into a fresh venv, run from elsewhere.

fabfleet's wheel is built from the checkout's files, installed (with its dependencies,
from wherever pip normally gets them) into a new venv outside the checkout, and its
`fabfleet` is run from a temporary directory with nothing of the checkout on its path:
`init`, `render` (the same files a checkout renders) and `images --dry-run` (the build
contexts come from the installed package; fabfleet's own wheel is the one it was installed
from, or its installed files repacked, which give that same wheel back).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.images.wheels import find_source, source_files

REPO = Path(__file__).parents[2]
FLEET = REPO / "tests" / "orchestrator" / "golden" / "usb" / "fleet.yaml"
# What the wheel must carry besides the modules: the shipped udev/ and compose/ folders.
SHIPPED = (
    "orchestrator/share/udev/99-fabfleet.rules.j2",
    "orchestrator/share/compose/compose.yaml.j2",
    "orchestrator/share/compose/nginx.conf.j2",
    "orchestrator/share/compose/images/python/Dockerfile",
    "orchestrator/share/compose/images/camera/Dockerfile",
    "orchestrator/share/compose/images/proxy/Dockerfile",
)
CONTEXTS = {"python", "camera", "proxy"}


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the wheel installed, and where things are."""

    wheel: Path
    installed_from: Path
    python: Path
    fabfleet: Path
    site_packages: Path
    work: Path


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` from ``cwd``, with no Python path or venv of the checkout around it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """fabfleet's wheel built from a copy of the checkout's files (a build in the checkout
    would leave build/ behind while others work in it), and what the build said."""
    scratch = tmp_path_factory.mktemp("wheel-build")
    checkout = find_source()
    copy = scratch / "src"
    for name in source_files(checkout):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / name, copy / name)
    out = scratch / "out"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", str(copy), "-w", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("fabfleet-*.whl")
    return wheel, built.stdout + built.stderr


@pytest.fixture(scope="module")
def installed(wheel_build: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel pip-installed into a new venv outside the checkout, from a copy that the
    tests may remove (to see what fabfleet says when the wheel it came from is gone)."""
    wheel = wheel_build[0]
    home = tmp_path_factory.mktemp("installed")
    assert not home.resolve().is_relative_to(REPO.resolve())
    venv = home / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], home)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    copy = home / "from" / wheel.name
    copy.parent.mkdir()
    shutil.copy2(wheel, copy)
    pip: list[str | Path] = [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--python",
        python,
    ]
    done = run([*pip, "install", "--quiet", copy], home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    where = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], home)
    work = home / "work"
    work.mkdir()
    return Installed(
        wheel=wheel,
        installed_from=copy,
        python=python,
        fabfleet=venv / "bin" / "fabfleet",
        site_packages=Path(where.stdout.strip()),
        work=work,
    )


def test_the_wheel_carries_the_shipped_folders_and_nothing_stale(
    wheel_build: tuple[Path, str],
) -> None:
    wheel, _ = wheel_build
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [name for name in SHIPPED if name not in names] == []
    top = {name.split("/")[0] for name in names}
    assert top == {"hub", "instance", "orchestrator", "fabfleet-0.1.0.dist-info"}
    stale = [
        n
        for n in names
        if n.startswith(("orchestrator/templates/", "hub/page/", "orchestrator/images/Dockerfile"))
    ]
    assert stale == []
    assert any(n.startswith("hub/web/page/") for n in names)


def test_the_build_warns_about_no_package(wheel_build: tuple[Path, str]) -> None:
    _, said = wheel_build
    assert "absent from the `packages` configuration" not in said


def test_the_installed_fabfleet_is_not_the_checkout(installed: Installed) -> None:
    found = run(
        [
            installed.python,
            "-c",
            "import sys, orchestrator; print(orchestrator.__file__, *sys.path)",
        ],
        installed.work,
    )
    assert found.returncode == 0, found.stderr
    module, *path = found.stdout.split()
    assert Path(module).is_relative_to(installed.site_packages)
    assert [p for p in path if p and Path(p).resolve().is_relative_to(REPO.resolve())] == []


def test_the_installed_wheel_has_the_mover(installed: Installed) -> None:
    """The k3s stack runs `fabfleet-mover` from the hub's image, which installs this wheel."""
    mover = installed.fabfleet.parent / "fabfleet-mover"
    helped = run([mover, "--help"], installed.work)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: fabfleet-mover")
    # Outside a pod it says what it lacks instead of starting.
    outside = run([mover], installed.work)
    assert outside.returncode == 2
    assert "KUBERNETES_SERVICE_HOST" in outside.stderr


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_init_writes_a_starter_fleet_file(installed: Installed) -> None:
    config = installed.work / "starter" / "fleet.yaml"
    done = run([installed.fabfleet, "init", "--config", config], installed.work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert config.is_file()
    rendered = run(
        [installed.fabfleet, "render", "--config", config, "--out", installed.work / "starter-out"],
        installed.work,
    )
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr


def test_render_gives_what_a_checkout_renders(installed: Installed, tmp_path: Path) -> None:
    config = installed.work / "fleet.yaml"
    shutil.copy2(FLEET, config)
    out = installed.work / "stack"
    done = run([installed.fabfleet, "render", "--config", config, "--out", out], installed.work)
    assert done.returncode == 0, done.stdout + done.stderr
    checkout_out = tmp_path / "checkout"
    render = ["render", "--config", str(config), "--out", str(checkout_out)]
    here = subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli.main import main; main()", *render],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert here.returncode == 0, here.stdout + here.stderr
    installed_files, checkout_files = tree(out), tree(checkout_out)
    assert {"99-fabfleet.rules", "compose.yaml", "proxy/nginx.conf"} <= set(installed_files)
    assert installed_files == checkout_files


def contexts_in(said: str) -> dict[str, Path]:
    """Context folder → its path, from the `context:` lines of `images --dry-run`."""
    found = {}
    for line in said.splitlines():
        if line.startswith("  context: "):
            path = Path(line.removeprefix("  context: ").split()[0].rstrip(":"))
            found[path.name] = path
    return found


def test_images_dry_run_uses_the_installed_contexts_and_wheel(installed: Installed) -> None:
    config = installed.work / "images.yaml"
    shutil.copy2(FLEET, config)
    images: list[str | Path] = [installed.fabfleet, "images", "--dry-run", "--config", config]
    share = installed.site_packages / "orchestrator" / "share" / "compose" / "images"

    done = run(images, installed.work)
    assert done.returncode == 0, done.stdout + done.stderr
    contexts = contexts_in(done.stdout)
    assert set(contexts) == CONTEXTS
    for name, path in contexts.items():
        assert path == share / name
        assert (path / "Dockerfile").is_file()
    assert done.stdout.count("  context: ") == 4
    assert done.stdout.count("Dockerfile") == 4
    origin = f"the wheel {installed.installed_from} (the wheel fabfleet was installed from)"
    assert done.stdout.count(f"  fabfleet: {origin}") == 2
    assert "nothing built (--dry-run)" in done.stdout

    # The wheel it was installed from is gone: the installed files are repacked instead.
    installed.installed_from.unlink()
    gone = run(images, installed.work)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    info = installed.site_packages / "fabfleet-0.1.0.dist-info"
    repacked = f"  fabfleet: the installed {info} (its files, repacked into a wheel)"
    assert gone.stdout.count(repacked) == 2

    given = run([*images, "--wheel", installed.wheel], installed.work)
    assert given.returncode == 0, given.stdout + given.stderr
    assert given.stdout.count(f"  fabfleet: the wheel {installed.wheel} (--wheel)") == 2


REPACK = """
import sys
from pathlib import Path
from orchestrator.images.wheels import installed_wheel
wheel, _ = installed_wheel(Path(sys.argv[1]), Path(sys.argv[2]), print)
print(wheel)
"""


def test_the_installed_fabfleet_repacked_is_the_wheel_it_came_from(
    installed: Installed, tmp_path: Path
) -> None:
    info = installed.site_packages / "fabfleet-0.1.0.dist-info"
    done = run([installed.python, "-c", REPACK, info, tmp_path / "cache"], installed.work)
    assert done.returncode == 0, done.stdout + done.stderr
    repacked = Path(done.stdout.splitlines()[-1])
    assert repacked.name == installed.wheel.name
    record = f"{info.name}/RECORD"
    with zipfile.ZipFile(installed.wheel) as original, zipfile.ZipFile(repacked) as again:
        assert sorted(again.namelist()) == sorted(original.namelist())
        for name in original.namelist():
            if name != record:
                assert again.read(name) == original.read(name), name
    # pip takes it (RECORD and all), and what it installs runs.
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path).returncode == 0
    pip: list[str | Path] = [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--python",
        venv / "bin/python",
    ]
    put = run([*pip, "install", "--quiet", "--no-deps", repacked], tmp_path)
    assert put.returncode == 0, put.stdout + put.stderr
    shipped = run(
        [
            venv / "bin/python",
            "-c",
            "from orchestrator.shipped import shipped; print(shipped('udev'))",
        ],
        tmp_path,
    )
    assert shipped.returncode == 0, shipped.stderr
    assert (Path(shipped.stdout.strip()) / "99-fabfleet.rules.j2").is_file()
