"""What each built image is: its user, labels, and that its program runs as the stack runs it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import docker
import pytest

from orchestrator.fleet.file import parse_fleet
from orchestrator.model.images import ROLES
from orchestrator.model.paths import CAMERA_DEVICE, PROXY_CONF, PROXY_DIR, PROXY_KEY
from orchestrator.rendering.render import render_stack
from orchestrator.stack.secrets import proxy_key_conf
from tests.containers import hardened, run
from tests.images.conftest import VERSION, Built, images

KERNEL = "import instance.analysis.ckernel as k; print(k.compiled_available(), k.library_path())"


def test_building_says_what_it_does(built: Built) -> None:
    lines = built.output.splitlines()
    for role in ROLES:
        assert f"{built.tag(role)}: building (missing)" in lines
        assert any(
            re.fullmatch(rf"{re.escape(built.tag(role))}: built in \d+ s \(\d+ MB\)", line)
            for line in lines
        )
    assert lines[-1] == "images: 4 built, 0 kept"


def test_images_again_builds_nothing(built: Built) -> None:
    again = images(built.config, built.cache, "--source", str(built.source))
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-5:] == [
        *(f"{built.tag(role)}: up to date" for role in ROLES),
        "images: 0 built, 4 kept",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_image_runs_as_the_unprivileged_user(
    built: Built, client: docker.DockerClient, role: str
) -> None:
    image = client.images.get(built.tag(role))
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert run(built.tag(role), ["id", "-u"]) == "10001\n"


@pytest.mark.parametrize("role", ROLES)
def test_every_image_is_labelled(built: Built, client: docker.DockerClient, role: str) -> None:
    labels = client.images.get(built.tag(role)).labels
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"] not in ("", "unknown")
    assert labels["org.opencontainers.image.licenses"] == "AGPL-3.0-or-later"
    assert labels["org.opencontainers.image.title"].startswith("fabfleet ")
    assert re.fullmatch(r"[0-9a-f]{64}", labels["org.fabfleet.build"])


def test_the_print_server_image_runs_fabfleet_instance_with_the_c_kernel(
    built: Built, client: docker.DockerClient
) -> None:
    image = client.images.get(built.tag("instance"))
    assert image.attrs["Config"]["Cmd"] == ["fabfleet-instance", "serve"]
    health = image.attrs["Config"]["Healthcheck"]["Test"]
    assert health[:3] == ["CMD", "bash", "-c"] and "GET /api/health " in health[-1]
    assert "serve" in run(built.tag("instance"), ["fabfleet-instance", "--help"])
    kernel = run(built.tag("instance"), ["python3", "-c", KERNEL])
    assert kernel.startswith("True /opt/fabfleet/lib/python3.11/site-packages/instance/analysis/")


def test_the_images_own_health_check_passes_on_a_serving_print_server(
    built: Built, client: docker.DockerClient
) -> None:
    """The image's HEALTHCHECK (bash's /dev/tcp, no Python) run as Docker runs it, in the
    hardened container: it fails while nothing serves, and passes once the print server
    (its printer's port has nobody: /api/health is 200 all the same) does."""
    health = client.images.get(built.tag("instance")).attrs["Config"]["Healthcheck"]["Test"]
    serve = (
        "while [ ! -e /tmp/go ]; do sleep 0.1; done; mkdir -p /tmp/data && FABFLEET_PORT="
        "socket://127.0.0.1:9 FABFLEET_DATA_DIR=/tmp/data exec fabfleet-instance serve"
    )
    with hardened(built.tag("instance"), ["bash", "-c", serve]) as container:
        assert container.exec(health[1:]).exit_code != 0
        assert container.exec(["touch", "/tmp/go"]).exit_code == 0
        passed = False
        for _ in range(120):
            if container.exec(health[1:]).exit_code == 0:
                passed = True
                break
            time.sleep(0.25)
        assert passed, container.get_wrapped_container().logs().decode()[-2000:]


def test_the_print_server_image_has_every_dependency_of_its_web_side(built: Built) -> None:
    """The wheels prepared on the host hold every runtime dependency (prometheus-client, …)."""
    assert run(built.tag("instance"), ["python3", "-c", "import instance.web.server"]) == ""


def test_the_hub_image_has_fabfleet_and_waits_for_the_hub(
    built: Built, client: docker.DockerClient
) -> None:
    image = client.images.get(built.tag("hub"))
    assert image.attrs["Config"]["Cmd"] == ["python3", "-m", "hub"]
    assert run(built.tag("hub"), ["python3", "-c", "import orchestrator, instance"]) == ""


def test_the_proxy_image_accepts_a_rendered_config(
    built: Built, client: docker.DockerClient, tmp_path: Path
) -> None:
    fleet = parse_fleet(
        "printers: [{name: a, url: 'socket://10.0.0.2:5000'}]\ncameras: [{name: c, serial: S1}]\n",
        "fleet.yaml",
    )
    (tmp_path / "proxy").mkdir()
    (tmp_path / "proxy" / "nginx.conf").write_bytes(
        render_stack(fleet, VERSION)["proxy/nginx.conf"]
    )
    # The stack mounts the proxy's key (an nginx include) from its secrets dir.
    key = tmp_path / "proxy-gate.conf"
    key.write_text(proxy_key_conf(b"k" * 32))
    key.chmod(0o644)
    output = run(
        built.tag("proxy"),
        ["nginx", "-t", "-c", PROXY_CONF],
        volumes={str(tmp_path / "proxy"): (PROXY_DIR, "ro"), str(key): (PROXY_KEY, "ro")},
    )
    assert f"configuration file {PROXY_CONF} test is successful" in output
    image = client.images.get(built.tag("proxy"))
    assert image.attrs["Config"]["Cmd"] == ["nginx", "-c", PROXY_CONF, "-g", "daemon off;"]


def test_the_camera_image_serves_state_without_its_device(
    built: Built, client: docker.DockerClient
) -> None:
    assert re.fullmatch(r"\d+\.\d+\S*\n", run(built.tag("camera"), ["ustreamer", "--version"]))
    image = client.images.get(built.tag("camera"))
    assert image.attrs["Config"]["Entrypoint"] is None
    command = [
        "ustreamer", f"--device={CAMERA_DEVICE}", "--host=0.0.0.0", "--port=8080", "--persistent"
    ]  # fmt: skip
    with hardened(built.tag("camera"), command) as container:
        state = None
        for _ in range(50):  # the health check's own request, as the container user
            done = container.exec(["curl", "-fsS", "http://127.0.0.1:8080/state"])
            if done.exit_code == 0 and isinstance(done.output, bytes):
                state = json.loads(done.output)
                break
            time.sleep(0.2)
        assert state is not None, container.get_wrapped_container().logs().decode()
        assert state["ok"] is True
        assert state["result"]["source"]["online"] is False
        assert container.exec(["id", "-u"]).output == b"10001\n"


def test_a_base_image_that_cannot_be_had_stops_the_build(built: Built, tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("site:\n  image_repository: fabfleet-nobase\n")
    base = "fabfleet-absent/base:bookworm"
    result = images(config, built.cache, "--source", str(built.source), "--base", base)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [
        f"fabfleet-nobase/instance:{VERSION}: building (missing)",
        f"base image {base}: not on this host, pulling it",
    ]
    assert result.stderr.startswith(
        f"fabfleet: base image {base} is not on this host and cannot be pulled ("
    )
    assert result.stderr.endswith(
        "); load it (docker load -i FILE), or remove site.image_base to use "
        "debian:bookworm-slim or a Debian base fabfleet builds itself\n"
    )
