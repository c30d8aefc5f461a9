"""The real stack through its proxy: upload MB/s, camera CPU with viewers, print server memory.

On a real Docker engine with the real images, one fleet (3 simulated printers
and 1 camera whose device is absent), brought up with `fabfleet up` as its own
compose project and removed afterwards; an admin made with `fabfleet user add`
logs in through the proxy like a browser.

- **upload**: a G-code file of ``--upload-mb`` MB (default 200, stored, not
  printed) uploaded to one print server, through nginx (`POST
  /printers/<name>/api/v1/files`, the session cookie and the gate) and straight
  to the print server's container address from the host (with an identity
  signed by the stack's own gate key, as nginx would pass it), alternately, in
  one process, ``--rounds`` times each. Between uploads the file's analysis is
  waited for and the file deleted, so neither run pays for the other's.
- **camera CPU**: ``--viewers`` clients (default 3) read
  `/cameras/<name>/stream` through the proxy at once for ``--seconds`` (20);
  the camera container's CPU is the delta of its cgroup's usage (cgroup v2
  `cpu.stat` `usage_usec`, v1 `cpuacct.usage`) over that time, next to the same
  with no viewer. The camera's device is absent, so this is ustreamer's
  "offline" placeholder stream at the fleet file's resolution and fps.
- **memory**: each `printer-*` container's cgroup memory (v2 `memory.current`,
  v1 `memory.usage_in_bytes`; both include the page cache) and its anonymous
  memory (`anon`, v1 `total_rss`), idle once all are ready, and again after the
  uploads.

    python -m bench.stack_proxy [--repository REPO] [--upload-mb 200] [--rounds 2] [--tls]

With ``--tls`` the stack has ``site.tls: {self_signed: true}`` and every request through
the proxy goes over HTTPS (verified against the certificate `up` made).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests
import yaml
from docker.errors import NotFound
from docker.models.containers import Container

from bench.stack_images import bench_images, containers, fabfleet
from hub.auth.signing import HEADER, identity_for, read_master_key
from tests.orchestrator.stack_helpers import free_port, remove_project

TIMEOUT = 180.0
PRINTERS = ("p1", "p2", "p3")
CAMERA = "cam"
USER = "bench"
PASSWORD = "a long enough bench password 42"
MB = 1_000_000
BOUNDARY = "fabfleet-bench-boundary"
PIECE = 1 << 20


class Cgroup:
    """A container's cgroup, found from its first process: CPU used and memory held."""

    def __init__(self, container: Container) -> None:
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        self.paths: dict[str, Path] = {}
        self.v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if self.v2 and controllers == "":
                self.paths["unified"] = Path("/sys/fs/cgroup") / path.lstrip("/")
            for controller in controllers.split(","):
                if controller in ("cpuacct", "memory"):
                    self.paths[controller] = Path("/sys/fs/cgroup", controllers, path.lstrip("/"))

    def _read(self, controller: str, name: str) -> str:
        return (self.paths["unified" if self.v2 else controller] / name).read_text()

    def cpu_seconds(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in self._read("", "cpu.stat").splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int(self._read("cpuacct", "cpuacct.usage")) / 1e9

    def memory_mib(self) -> tuple[float, float]:
        """(all charged memory, anonymous memory) in MiB."""
        stat = dict(line.split() for line in self._read("memory", "memory.stat").splitlines())
        if self.v2:
            total = int(self._read("", "memory.current"))
            anon = int(stat["anon"])
        else:
            total = int(self._read("memory", "memory.usage_in_bytes"))
            anon = int(stat["total_rss"])
        return total / 2**20, anon / 2**20


@dataclass
class Proxy:
    base: str
    session: requests.Session
    csrf: str


def _login(base: str, verify: str | bool) -> Proxy:
    session = requests.Session()
    # verify: the stack's own certificate with --tls (trust_env off, or REQUESTS_CA_BUNDLE
    # would replace it).
    session.verify, session.trust_env = verify, False
    answer = session.post(
        f"{base}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
    )
    answer.raise_for_status()
    return Proxy(base, session, str(answer.json()["csrf"]))


def _wait(what: str, probe: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {TIMEOUT:.0f} s")
        time.sleep(0.5)


def _gcode(megabytes: int) -> bytes:
    line = b"G1 X123.456 Y78.901 E0.04567 F1800 ; a line of a long part\n"
    count = megabytes * MB // len(line)
    return b"; a large bench part\nG28\nG90\n" + line * count


def _multipart(name: str, gcode: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/x-gcode\r\n\r\n"
    ).encode()
    tail = f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="print"\r\n\r\nfalse\r\n--{BOUNDARY}--\r\n'.encode()  # noqa: E501
    return head + gcode + tail


def _pieces(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for offset in range(0, len(body), PIECE):
        yield bytes(view[offset : offset + PIECE])


def _upload(
    session: requests.Session, url: str, body: bytes, headers: dict[str, str], chunked: bool
) -> float:
    """Seconds from the first byte sent to the 201."""
    headers = {**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    data: bytes | Iterator[bytes] = _pieces(body) if chunked else body
    start = time.monotonic()
    answer = session.post(url, data=data, headers=headers, timeout=600)
    seconds = time.monotonic() - start
    if answer.status_code != 201:
        raise SystemExit(f"upload to {url}: {answer.status_code} {answer.text[:300]}")
    return seconds


def _analysed_then_deleted(proxy: Proxy, printer: str, name: str) -> tuple[float, str]:
    """Wait for the file's analysis, then delete it; seconds waited and how it ended."""
    start = time.monotonic()
    url = f"{proxy.base}/printers/{printer}/api/v1/files/{name}"

    status = ["pending"]

    def done() -> bool:
        answer = proxy.session.get(f"{url}/analysis", timeout=10)
        status[0] = str(answer.json().get("status")) if answer.ok else "pending"
        return status[0] != "pending"

    _wait(f"analysis of {name}", done)
    waited = time.monotonic() - start
    proxy.session.delete(url, headers={"X-CSRF-Token": proxy.csrf}, timeout=30).raise_for_status()
    return waited, status[0]


def measure_uploads(
    proxy: Proxy, direct: str, master: bytes, megabytes: int, rounds: int, chunked: bool
) -> dict[str, list[float]]:
    gcode = _gcode(megabytes)
    size = len(gcode) / MB
    rates: dict[str, list[float]] = {"proxy": [], "direct": []}
    printer = PRINTERS[0]
    for round_ in range(rounds):
        order = ("proxy", "direct") if round_ % 2 == 0 else ("direct", "proxy")
        for way in order:
            name = f"bench-{way}-{round_}.gcode"
            body = _multipart(name, gcode)
            if way == "proxy":
                url = f"{proxy.base}/printers/{printer}/api/v1/files"
                seconds = _upload(proxy.session, url, body, {"X-CSRF-Token": proxy.csrf}, chunked)
            else:
                headers = {HEADER: identity_for(master, printer, USER, True)}
                with requests.Session() as plain:
                    seconds = _upload(plain, f"{direct}/api/v1/files", body, headers, chunked)
            rates[way].append(size / seconds)
            waited, analysis = _analysed_then_deleted(proxy, printer, name)
            print(
                f"upload {way:<6} {size:.0f} MB in {seconds:.2f} s = {size / seconds:.0f} MB/s"
                f" (analysis: {analysis} {waited:.0f} s later)",
                flush=True,
            )
    return rates


def _viewer(proxy: Proxy, url: str, until: float, counts: list[int]) -> None:
    with proxy.session.get(url, stream=True, timeout=10) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_content(chunk_size=65536):
            counts[0] += len(chunk)
            counts[1] += chunk.count(b"\xff\xd8\xff")
            if time.monotonic() >= until:
                break


def measure_camera(
    proxy: Proxy, camera: Cgroup, nginx: Cgroup, viewers: int, seconds: float
) -> dict[str, float]:
    """CPU (% of one core) of the camera and the proxy, idle and with ``viewers`` streams."""
    figures: dict[str, float] = {}
    start_cam, start_proxy, start = camera.cpu_seconds(), nginx.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    figures["idle camera %"] = 100 * (camera.cpu_seconds() - start_cam) / wall
    figures["idle proxy %"] = 100 * (nginx.cpu_seconds() - start_proxy) / wall
    url = f"{proxy.base}/cameras/{CAMERA}/stream"
    counts = [[0, 0] for _ in range(viewers)]
    start_cam, start_proxy, start = camera.cpu_seconds(), nginx.cpu_seconds(), time.monotonic()
    until = start + seconds
    threads = [threading.Thread(target=_viewer, args=(proxy, url, until, c)) for c in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    figures["viewed camera %"] = 100 * (camera.cpu_seconds() - start_cam) / wall
    figures["viewed proxy %"] = 100 * (nginx.cpu_seconds() - start_proxy) / wall
    figures["fps per viewer"] = statistics.mean(c[1] for c in counts) / wall
    figures["KB/s per viewer"] = statistics.mean(c[0] for c in counts) / wall / 1000
    return figures


def run(client: docker.DockerClient, repository: str, work: Path, args: argparse.Namespace) -> None:
    project = f"ffbench-{uuid.uuid4().hex[:8]}"
    state_dir = work / "state"
    config = work / "fleet.yaml"
    port = free_port()
    site: dict[str, Any] = {
        "state_dir": str(state_dir), "image_repository": repository, "http_port": port
    }  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    verify: str | bool = True
    if args.tls:
        # HTTPS with the certificate `up` makes; every figure is then over TLS.
        https_port = free_port()
        site |= {"https_port": https_port, "tls": {"self_signed": True}}
        base = f"https://localhost:{https_port}"
        verify = str(state_dir / "secrets" / "tls" / "certificate.pem")
    fleet = {
        "site": site,
        "printers": [{"name": n, "simulated": True} for n in PRINTERS],
        # Its device is absent: ustreamer serves its "offline" picture.
        "cameras": [{"name": CAMERA, "serial": f"FFBENCH{uuid.uuid4().hex[:6].upper()}"}],
    }
    config.write_text(yaml.safe_dump(fleet, sort_keys=False))
    env = {
        "FABFLEET_CONFIG": str(config),
        "FABFLEET_PROJECT": project,
        "FABFLEET_UDEV_RULES": str(work / "99-fabfleet.rules"),
    }
    try:
        up = fabfleet(env, "up", "--no-build")  # the images given or built before, as they are
        if up.returncode != 0:
            raise SystemExit(f"fabfleet up failed:\n{up.stdout}{up.stderr}")
        added = fabfleet(env, "user", "add", USER, "--admin", "--password-stdin", stdin=PASSWORD)
        if added.returncode != 0:
            raise SystemExit(f"fabfleet user add failed:\n{added.stdout}{added.stderr}")
        health = f"{base}/api/health"
        _wait("the hub", lambda: requests.get(health, timeout=2, verify=verify).ok)
        proxy = _login(base, verify)

        def ready(name: str) -> bool:
            answer = proxy.session.get(f"{base}/printers/{name}/api/v1/printer", timeout=5)
            return answer.ok and answer.json().get("state") == "ready"

        for name in PRINTERS:
            _wait(f"printer {name} ready", lambda name=name: ready(name))
        _wait(
            "the camera",
            lambda: proxy.session.get(f"{base}/cameras/{CAMERA}/state", timeout=5).ok,
        )
        found = containers(client, project)
        time.sleep(5)
        idle = {n: Cgroup(found[f"printer-{n}"]).memory_mib() for n in PRINTERS}

        target = found[f"printer-{PRINTERS[0]}"]
        address = target.attrs["NetworkSettings"]["Networks"][f"{project}_internal"]["IPAddress"]
        master = read_master_key(state_dir / "secrets" / "gate.key")
        rates = measure_uploads(
            proxy, f"http://{address}:8080", master, args.upload_mb, args.rounds, args.chunked
        )
        after = {n: Cgroup(found[f"printer-{n}"]).memory_mib() for n in PRINTERS}

        camera = measure_camera(
            proxy,
            Cgroup(found[f"camera-{CAMERA}"]),
            Cgroup(found["proxy"]),
            args.viewers,
            args.seconds,
        )
    except SystemExit:
        for service in ("proxy", "hub", f"printer-{PRINTERS[0]}"):
            with contextlib.suppress(KeyError, NotFound):
                tail = containers(client, project)[service].logs(tail=8).decode(errors="replace")
                print(f"--- {service}, last lines:\n{tail}", file=sys.stderr)
        raise
    finally:
        remove_project(client, project)

    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    print()
    how = ("chunked" if args.chunked else "with Content-Length") + (
        ", over HTTPS through nginx" if args.tls else ""
    )
    print(f"| upload of {args.upload_mb} MB, {how} (not printed) | MB/s, median | runs |")
    print("|---|---|---|")
    for way, label in (
        ("proxy", "through nginx (gate, session)"),
        ("direct", "straight to the print server"),
    ):
        runs = ", ".join(f"{r:.0f}" for r in rates[way])
        print(f"| {label} | {statistics.median(rates[way]):.0f} | {runs} |")
    print()
    print(
        f"| camera, device absent (placeholder stream), {args.seconds:.0f} s | CPU, % of one core |"
    )
    print("|---|---|")
    print(f"| camera container, no viewer | {camera['idle camera %']:.1f} |")
    viewed = camera["viewed camera %"]
    print(f"| camera container, {args.viewers} viewers through the proxy | {viewed:.1f} |")
    print(f"| proxy container, no viewer | {camera['idle proxy %']:.1f} |")
    print(f"| proxy container, {args.viewers} viewers | {camera['viewed proxy %']:.1f} |")
    print(
        f"each viewer received {camera['fps per viewer']:.1f} frames/s, "
        f"{camera['KB/s per viewer']:.0f} KB/s"
    )
    print()
    print("| print server | memory idle (all / anon) | after the uploads (all / anon) |")
    print("|---|---|---|")
    for name in PRINTERS:
        print(
            f"| printer-{name} | {idle[name][0]:.1f} / {idle[name][1]:.1f} MiB | "
            f"{after[name][0]:.1f} / {after[name][1]:.1f} MiB |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", help="use these images (<repository>/<role>:<version>)")
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--chunked",
        action="store_true",
        help="send the uploads with chunked transfer encoding instead of a Content-Length",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="the stack with site.tls (self-signed): through the proxy over HTTPS",
    )
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=300)
    with bench_images(client, args.repository) as (repository, work):
        run(client, repository, work, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
