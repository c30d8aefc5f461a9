"""pyproject.toml lists every package the wheel needs, and fabfleet finds its own wheel's
origin (source or wheel file) when it builds the images."""

from __future__ import annotations

import json
import platform
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from orchestrator.images import wheels
from orchestrator.images.build import BuildSettings
from orchestrator.images.plan import describe, plan_images
from orchestrator.images.wheels import (
    Origin,
    WheelError,
    check_wheel_tags,
    find_origin,
    installed_wheel,
    origin_requirements,
    origin_url,
    source_files,
)

REPO = Path(__file__).parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
SHARED = {"orchestrator.share.udev": "udev", "orchestrator.share.compose": "compose"}


def test_every_package_is_listed_and_every_listed_one_exists() -> None:
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("instance", "orchestrator", "hub")
        for init in (REPO / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert sorted(SETUPTOOLS["packages"]) == sorted(folders | set(SHARED))


def test_the_shipped_folders_are_mapped_into_the_orchestrator_package() -> None:
    assert SETUPTOOLS["package-dir"] == SHARED
    assert all((REPO / folder).is_dir() for folder in SHARED.values())


def test_the_images_wheel_is_built_from_every_shipped_file() -> None:
    files = {str(f) for f in source_files(REPO)}
    assert "pyproject.toml" in files
    assert "udev/99-fabfleet.rules.j2" in files
    assert "compose/images/python/Dockerfile" in files
    assert "hub/web/page/index.html" in files
    assert "orchestrator/shipped.py" in files
    assert not any(f.startswith(("tests/", "docs/", "bench/", "scripts/")) for f in files)


def fake_wheel(path: Path, *, requires: tuple[str, ...] = (), url: str = "") -> Path:
    lines = ["Metadata-Version: 2.4", "Name: fabfleet", "Version: 0.1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    if url:
        lines.append(f"Project-URL: Source, {url}")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fabfleet-0.1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def fake_install(site: Path) -> Path:
    """A regular install of a small fabfleet in ``site``, as pip leaves it."""
    info = site / "fabfleet-0.1.0.dist-info"
    info.mkdir(parents=True)
    files = {
        "orchestrator/__init__.py": b'"""x"""\n',
        "orchestrator/share/udev/99-fabfleet.rules.j2": b"# rules\n",
        "orchestrator/__pycache__/__init__.cpython-311.pyc": b"\0",
        f"{info.name}/METADATA": (
            b"Metadata-Version: 2.4\nName: fabfleet\nVersion: 0.1.0\n"
            b"Requires-Dist: jinja2>=3.1\nRequires-Dist: ruff; extra == 'dev'\n"
        ),
        f"{info.name}/WHEEL": b"Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n",
        f"{info.name}/entry_points.txt": b"[console_scripts]\nfabfleet = orchestrator:main\n",
        f"{info.name}/INSTALLER": b"pip\n",
        f"{info.name}/direct_url.json": b"{}",
    }
    for name, data in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    rows = [f"{name},sha256=x,{len(data)}" for name, data in files.items()]
    rows += ["../../../bin/fabfleet,sha256=x,10", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    return info


def test_an_install_is_repacked_into_the_wheel_it_came_from(tmp_path: Path) -> None:
    info = fake_install(tmp_path / "site-packages")
    origin = Origin(info, "installed", "its files, repacked into a wheel")
    assert origin_requirements(origin) == ["jinja2>=3.1"]
    said: list[str] = []
    wheel, digest = installed_wheel(info, tmp_path / "cache", said.append)
    assert wheel.name == "fabfleet-0.1.0-cp311-cp311-linux_x86_64.whl"
    assert said == [f"wheels: fabfleet repacked from its install in {info.parent}"]
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(archive.namelist())
        record = archive.read(f"{info.name}/RECORD").decode()
        rules = archive.read("orchestrator/share/udev/99-fabfleet.rules.j2")
    assert names == [
        f"{info.name}/METADATA",
        f"{info.name}/RECORD",
        f"{info.name}/WHEEL",
        f"{info.name}/entry_points.txt",
        "orchestrator/__init__.py",
        "orchestrator/share/udev/99-fabfleet.rules.j2",
    ]
    assert rules == b"# rules\n"
    assert "orchestrator/__init__.py,sha256=" in record
    assert f"{info.name}/RECORD,," in record
    # Cached by the installed files' digest; a changed file makes another wheel.
    again, same = installed_wheel(info, tmp_path / "cache", said.append)
    assert (again, same) == (wheel, digest)
    assert said[-1].endswith("(cached)")
    (info.parent / "orchestrator/__init__.py").write_bytes(b'"""changed"""\n')
    assert installed_wheel(info, tmp_path / "cache", said.append)[1] != digest
    (info.parent / "orchestrator/__init__.py").unlink()
    with pytest.raises(
        WheelError,
        match=r"file of fabfleet-0\.1\.0\.dist-info is gone: .*__init__\.py; reinstall",
    ):
        installed_wheel(info, tmp_path / "cache", said.append)


def test_the_origin_is_the_given_wheel_then_source_then_checkout(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "fabfleet-0.1.0-py3-none-any.whl")
    assert find_origin(REPO, wheel) == Origin(wheel, "wheel", "--wheel")
    assert find_origin(REPO) == Origin(REPO.resolve(), "source", "--source")
    assert find_origin(here=REPO) == Origin(REPO, "source", "the checkout fabfleet runs from")


def test_an_install_finds_what_pip_installed_it_from(tmp_path: Path) -> None:
    here = tmp_path / "site-packages"  # no pyproject.toml: not a checkout
    here.mkdir()
    wheel = fake_wheel(tmp_path / "fabfleet-0.1.0-py3-none-any.whl")
    assert find_origin(here=here, installed=wheel) == Origin(
        wheel, "wheel", "the wheel fabfleet was installed from"
    )
    assert find_origin(here=here, installed=REPO) == Origin(
        REPO.resolve(), "source", "the source fabfleet was installed from"
    )
    info = fake_install(here)
    assert find_origin(here=here, installed=tmp_path / "gone" / wheel.name, dist_info=info) == (
        Origin(info, "installed", "its files, repacked into a wheel")
    )
    with pytest.raises(WheelError, match=r"give --wheel FILE .* or --source DIR"):
        find_origin(here=here, installed=tmp_path / "gone" / wheel.name)
    with pytest.raises(WheelError, match="is not a wheel of fabfleet"):
        find_origin(wheel=tmp_path / "other-1.0-py3-none-any.whl")


def test_a_wheels_requirements_leave_out_its_extras(tmp_path: Path) -> None:
    wheel = fake_wheel(
        tmp_path / "fabfleet-0.1.0-py3-none-any.whl",
        requires=("pyserial>=3.5", 'pytest>=8; extra == "dev"', "typer>=0.12"),
        url="https://example.org/fabfleet",
    )
    origin = Origin(wheel, "wheel", "--wheel")
    assert origin_requirements(origin) == ["pyserial>=3.5", "typer>=0.12"]
    assert origin_url(origin) == "https://example.org/fabfleet"
    bare = Origin(fake_wheel(tmp_path / "fabfleet-0.1.0-cp311-none-any.whl"), "wheel", "--wheel")
    assert origin_url(bare) == bare.path.as_uri()


@pytest.mark.parametrize(
    ("name", "machine", "refusal"),
    [
        ("fabfleet-0.1.0-cp311-cp311-linux_x86_64.whl", "x86_64", None),
        ("fabfleet-0.1.0-py3-none-any.whl", "aarch64", None),
        ("fabfleet-0.1.0-cp311-cp311-linux_aarch64.whl", "aarch64", None),
        ("fabfleet-0.1.0-cp311-cp311-linux_aarch64.whl", "x86_64", "is for linux_aarch64"),
        ("fabfleet-0.1.0-cp312-cp312-linux_x86_64.whl", "x86_64", "was built for cp312"),
    ],
)
def test_a_wheel_must_run_in_the_images_on_this_host(
    monkeypatch: pytest.MonkeyPatch, name: str, machine: str, refusal: str | None
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: machine)
    if refusal is None:
        assert check_wheel_tags(Path(name)) == "0.1.0"
    else:
        with pytest.raises(WheelError, match=refusal):
            check_wheel_tags(Path(name))


def test_the_dry_run_plan_names_each_context_and_input(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "fabfleet-0.1.0-py3-none-any.whl", requires=("jinja2>=3.1",))
    settings = BuildSettings("lab", "0.1.0", "debian:bookworm-slim", uid=2000, wheel=wheel)
    plan = plan_images(settings)
    assert plan.problem is None
    assert [(p.role, p.tag, p.context.name, p.target) for p in plan.images] == [
        ("instance", "lab/instance:0.1.0", "python", "instance"),
        ("camera", "lab/camera:0.1.0", "camera", None),
        ("hub", "lab/hub:0.1.0", "python", "hub"),
        ("proxy", "lab/proxy:0.1.0", "proxy", None),
    ]
    assert all(Path("Dockerfile") in p.files for p in plan.images)
    lines = describe(plan)
    assert lines[:6] == [
        "lab/instance:0.1.0",
        f"  context: {settings.contexts / 'python'} (target instance): Dockerfile",
        "  base: debian:bookworm-slim",
        "  arguments: UID=2000 GID=10001 VERSION=0.1.0",
        f"  fabfleet: the wheel {wheel.resolve()} (--wheel)",
        lines[5],
    ]
    assert lines[5].endswith(": jinja2>=3.1")


def test_the_dry_run_says_when_fabfleets_wheel_cannot_be_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nowhere(source: Path | None = None, wheel: Path | None = None) -> Origin:
        raise WheelError("give --wheel FILE")

    monkeypatch.setattr("orchestrator.images.plan.find_origin", nowhere)
    plan = plan_images(BuildSettings("lab", "0.1.0", "debian:bookworm-slim"))
    assert plan.problem == "give --wheel FILE"
    assert describe(plan).count("  fabfleet: cannot be had: give --wheel FILE") == 2


class Recorded:
    """A distribution whose ``direct_url.json`` says ``text``."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def read_text(self, name: str) -> str | None:
        return self.text if name == "direct_url.json" else None


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (
            {"url": "file:///srv/wheels/fabfleet-0.1.0-py3-none-any.whl", "archive_info": {}},
            Path("/srv/wheels/fabfleet-0.1.0-py3-none-any.whl"),
        ),
        ({"url": "file:///home/lab/fab%20fleet", "dir_info": {}}, Path("/home/lab/fab fleet")),
        ({"url": "https://example.org/fabfleet-0.1.0-py3-none-any.whl", "archive_info": {}}, None),
        (None, None),
    ],
)
def test_pip_says_where_it_installed_fabfleet_from(
    monkeypatch: pytest.MonkeyPatch, recorded: dict[str, object] | None, expected: Path | None
) -> None:
    text = None if recorded is None else json.dumps(recorded)
    monkeypatch.setattr(metadata, "distribution", lambda name: Recorded(text))
    assert wheels.installed_from() == expected
