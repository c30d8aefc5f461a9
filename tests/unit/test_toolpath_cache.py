"""The stored previews: built once per version of a file, shared by concurrent requests,
failures remembered, leftovers of deleted files removed."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

import instance.files.toolpaths as toolpaths_module
from instance.files.store import FileStore
from instance.files.toolpaths import PreviewUnavailable, Toolpaths
from instance.files.worker_process import run_module
from tests.big_gcode import FIXTURES

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files", max_bytes=64 * MB, reserve_bytes=0)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the worker process was run for."""
    seen: list[str] = []
    real = run_module

    async def counted(module: str, *arguments: str, seconds: float, late: str) -> tuple[int, bytes]:
        seen.append(Path(arguments[0]).name)
        return await real(module, *arguments, seconds=seconds, late=late)

    monkeypatch.setattr(toolpaths_module, "run_module", counted)
    return seen


def put(store: FileStore, name: str, fixture: str) -> None:
    shutil.copyfile(FIXTURES / fixture, store.directory / name)


def test_concurrent_requests_share_one_build_and_the_next_one_reads_it(
    store: FileStore, builds: list[str]
):
    put(store, "cube.gcode", "cube_slic3r.gcode")

    async def scenario() -> None:
        toolpaths = Toolpaths(store)
        stored = store.stat("cube.gcode")
        first, second = await asyncio.gather(toolpaths.preview(stored), toolpaths.preview(stored))
        assert first == second
        assert len(first.index.offsets) == 67
        assert (await Toolpaths(store).preview(stored)) == first  # from disk, after a restart

    asyncio.run(scenario())
    assert builds == ["cube.gcode"]


def test_a_replaced_file_is_built_again(store: FileStore, builds: list[str]):
    put(store, "part.gcode", "cube_slic3r.gcode")

    async def scenario() -> None:
        toolpaths = Toolpaths(store)
        old = await toolpaths.preview(store.stat("part.gcode"))
        put(store, "part.gcode", "cube_prusa_marlin2.gcode")
        os.utime(store.directory / "part.gcode", (1e9, 1e9))
        new = await toolpaths.preview(store.stat("part.gcode"))
        assert new.etag != old.etag
        assert len(new.index.offsets) == 99

    asyncio.run(scenario())
    assert builds == ["part.gcode", "part.gcode"]


def test_the_layer_index_starts_a_build_and_is_there_once_built(
    store: FileStore, builds: list[str]
):
    put(store, "job.gcode", "cube_slic3r.gcode")

    async def scenario() -> None:
        toolpaths = Toolpaths(store)
        stored = store.stat("job.gcode")
        assert toolpaths.index(stored) is None
        assert toolpaths.index(stored) is None  # the build under way is not started twice
        for _ in range(600):
            await asyncio.sleep(0.05)
            index = toolpaths.index(stored)
            if index is not None:
                break
        assert index is not None
        assert index.zs[0] == pytest.approx(0.35)

    asyncio.run(scenario())
    assert builds == ["job.gcode"]


def test_a_file_that_cannot_be_previewed_is_refused_from_the_stored_verdict(
    store: FileStore, builds: list[str]
):
    (store.directory / "blob.gcode").write_bytes(b"GCDE" + bytes(range(256)) * 64)

    async def scenario() -> None:
        toolpaths = Toolpaths(store)
        stored = store.stat("blob.gcode")
        for _ in range(2):
            with pytest.raises(PreviewUnavailable, match="binary G-code"):
                await toolpaths.preview(stored)
        assert toolpaths.index(stored) is None

    asyncio.run(scenario())
    assert builds == ["blob.gcode"]


def test_previews_of_files_no_longer_stored_are_removed(store: FileStore, builds: list[str]):
    put(store, "kept.gcode", "cube_slic3r.gcode")
    put(store, "gone.gcode", "cube_slic3r.gcode")

    async def scenario() -> None:
        toolpaths = Toolpaths(store)
        for name in ("kept.gcode", "gone.gcode"):
            await toolpaths.preview(store.stat(name))

    asyncio.run(scenario())
    (store.directory / "gone.gcode").unlink()
    Toolpaths(store).remove_orphans()
    left = sorted(p.name for p in (store.directory / ".toolpath").iterdir())
    assert left == ["kept.gcode.fftp", "kept.gcode.fftp.gz", "kept.gcode.json"]
