"""What Debian's ffmpeg adds to the print server's image: size, and build time (amd64 here,
arm64 under emulation as tests/images builds it).

- **size**: the instance image built with `fabfleet images --role instance` from this tree,
  and from the same tree with the Dockerfile's ffmpeg step taken out;
- **build time of the step**: the ffmpeg step alone (`apt-get update`, `apt-get install
  --no-install-recommends ffmpeg`) built again and again without cache on top of the image
  without it;
- **arm64** (``--arm64``): the same step on the arm64 Debian root the arm64 tests cache
  (tests/images/arm64_root.py, ``FABFLEET_TEST_ROOT_CACHE``), under qemu-user-static, as
  `fabfleet images --arch arm64` runs it.

    python -m bench.timelapse_image [--runs 3] [--arm64] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
from docker.errors import ImageNotFound, NotFound

from bench.stack_images import fabfleet
from orchestrator.images.rootimage import load_root
from orchestrator.images.wheels import find_source, source_files

MB = 1000 * 1000
DOCKERFILE = Path("compose/images/python/Dockerfile")
STEP = (
    "RUN apt-get update \\\n"
    " && apt-get install -y --no-install-recommends ffmpeg \\\n"
    " && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n"
)
ROOT_CACHE = Path("/var/tmp/fabfleet-test-roots")


def snapshot(into: Path, without_ffmpeg: bool) -> Path:
    checkout = find_source()
    for name in source_files(checkout):
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / name, into / name)
    if without_ffmpeg:
        dockerfile = into / DOCKERFILE
        text = dockerfile.read_text()
        # The instance stage's step, from its `USER root` to the user again.
        start = text.index("USER root\n", text.index("AS instance"))
        end = text.index("USER ${UID}:${GID}\n", start) + len("USER ${UID}:${GID}\n")
        dockerfile.write_text(text[:start] + text[end:])
    return into


def build_instance(work: Path, repository: str, source: Path) -> tuple[str, float]:
    config = work / f"{repository}.yaml"
    config.write_text(f"site:\n  image_repository: {repository}\n")
    # The snapshot's own code, so that its Dockerfile is the one built (orchestrator/shipped.py).
    env = {
        "FABFLEET_CONFIG": str(config),
        "FABFLEET_CACHE_DIR": str(work / "cache"),
        "PYTHONPATH": str(source),
    }
    started = time.monotonic()
    done = fabfleet(env, "images", "--role", "instance", "--source", str(source))
    if done.returncode != 0:
        raise SystemExit(f"fabfleet images failed:\n{done.stdout}{done.stderr}")
    return f"{repository}/instance:{version('fabfleet')}", time.monotonic() - started


def step_seconds(client: docker.DockerClient, base: str, platform: str, user: str) -> float:
    dockerfile = f"FROM {base}\nUSER root\n{STEP}USER {user}\n"
    tag = f"fabfleet-bench-ffmpeg-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, nocache=True, rm=True,
        platform=platform, pull=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    grown = client.images.get(tag).attrs["Size"] - client.images.get(base).attrs["Size"]
    client.images.remove(tag, force=True)
    print(f"ffmpeg step on {platform}: {seconds:.0f} s, +{grown / MB:.0f} MB", flush=True)
    return seconds


def stage_images(client: docker.DockerClient) -> set[str]:
    """Leftover build-stage images (the Python images' venv stage)."""
    found = client.images.list(filters={"dangling": True, "label": "org.fabfleet.stage"})
    return {str(i.id) for i in found}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} s ({min(values):.0f} to {max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--arm64", action="store_true")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    client = docker.from_env(timeout=1800)
    stages = stage_images(client)
    run = uuid.uuid4().hex[:8]
    made: list[str] = []
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-image-") as tmp:
        work = Path(tmp)
        try:
            without, seconds_without = build_instance(
                work, f"fabfleet-bench-noff-{run}", snapshot(work / "without", True)
            )
            made.append(without)
            with_ffmpeg, seconds_with = build_instance(
                work, f"fabfleet-bench-ff-{run}", snapshot(work / "with", False)
            )
            made.append(with_ffmpeg)
            size_without = client.images.get(without).attrs["Size"]
            size_with = client.images.get(with_ffmpeg).attrs["Size"]
            summary["instance_mb"] = {
                "without_ffmpeg": round(size_without / MB),
                "with_ffmpeg": round(size_with / MB),
                "grows_by": round((size_with - size_without) / MB),
            }
            summary["fabfleet_images_s"] = {
                "without (first, cold venv stage)": round(seconds_without),
                "with (venv cached: the ffmpeg step and after)": round(seconds_with),
            }
            user = str(client.images.get(without).attrs["Config"].get("User") or "10001")
            amd64 = [step_seconds(client, without, "linux/amd64", user)
                     for _ in range(arguments.runs)]  # fmt: skip
            summary["ffmpeg_step_amd64"] = spread(amd64)
            if arguments.arm64:
                roots = sorted(ROOT_CACHE.glob("debian-arm64-*.tar"))
                if not roots:
                    raise SystemExit(
                        f"no arm64 root in {ROOT_CACHE}: run tests/images/test_arm64_docker.py once"
                    )
                base = f"fabfleet-bench-arm64-{run}:base"
                load_root(client, roots[-1], base, "arm64")
                made.append(base)
                arm64 = [step_seconds(client, base, "linux/arm64", "root")
                         for _ in range(arguments.runs)]  # fmt: skip
                summary["ffmpeg_step_arm64_emulated"] = spread(arm64)
        finally:
            for tag in [*made, *(stage_images(client) - stages)]:
                with contextlib.suppress(ImageNotFound, NotFound):
                    client.images.remove(tag, force=True)
    print(json.dumps(summary, indent=1))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
