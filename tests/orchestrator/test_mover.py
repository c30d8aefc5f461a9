"""The mover (``fabfleet-mover``) against a stand-in API server on HTTPS on loopback.

No Kubernetes cluster runs here: tests/orchestrator/kube_stand_in.py answers the two
requests the mover makes as the API server does, over real TLS with a self-signed
certificate the mover must verify, and checks its bearer token. The pods it serves are
those fabfleet renders for a fleet (their labels, containers and device requests), with
the statuses a kubelet reports (API reference, Pod v1 ``status.containerStatuses``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from orchestrator.fleet.file import load_fleet
from orchestrator.model import stack_of
from orchestrator.mover.api import Api, Cluster, server_of
from orchestrator.mover.decide import EXIT_DEVICE_GONE
from orchestrator.mover.loop import Round, one_round
from orchestrator.rendering.k3s import NAMESPACE, render_k3s
from tests.orchestrator.kube_stand_in import StandIn, make_certificate

Doc = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
T = "2026-12-04T14:00:00Z"
# USB printers in every state a pod can be in, a simulated one, one reached over the
# network, and a camera.
FLEET = """\
printers:
  - name: gone
    serial: GONE0001
  - name: fine
    serial: FINE0001
  - name: waiting
    serial: WAIT0001
  - name: crashed
    serial: CRSH0001
  - name: back
    serial: BACK0001
  - name: ended
    serial: ENDD0001
  - name: sim
    simulated: {firmware: marlin2}
  - name: bridge
    url: socket://192.168.1.20:5001
cameras:
  - name: cam
    serial: CAM00001
"""


def running() -> Doc:
    return {"running": {"startedAt": T}}


def waiting(reason: str = "CrashLoopBackOff") -> Doc:
    return {"waiting": {"reason": reason, "message": "back-off 10s restarting failed container"}}


def terminated(code: int) -> Doc:
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Error" if code else "Completed",
            "startedAt": T,
            "finishedAt": T,
            "containerID": "containerd://0123abcd",
        }
    }


def container_status(name: str, state: Doc, last: Doc | None = None) -> Doc:
    return {
        "name": name,
        "state": state,
        "lastState": last or {},
        "ready": "running" in state,
        "restartCount": 0 if last is None else 3,
        "image": "fabfleet/instance:1.2.3",
        "imageID": "sha256:0123",
        "containerID": "containerd://0123abcd",
        "started": "running" in state,
    }


def pod_of(workload: Doc, state: Doc, last: Doc | None = None, phase: str = "Running") -> Doc:
    """A pod of the rendered ``workload`` as the API lists it, its one container in
    ``state`` after ``last``."""
    template = workload["spec"]["template"]
    name = workload["metadata"]["name"]
    pod_name = f"{name}-0" if workload["kind"] == "StatefulSet" else f"{name}-6d4cf56db6-x7k2p"
    status: Doc = {"phase": phase}
    if phase != "Pending":
        status["containerStatuses"] = [
            container_status(c["name"], state, last) for c in template["spec"]["containers"]
        ]
    else:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": f"0/3 nodes are available: 3 Insufficient fabfleet.io/{name}.",
            }
        ]
    return {
        "metadata": {
            "name": pod_name,
            "generateName": f"{name}-6d4cf56db6-",
            "labels": dict(template["metadata"]["labels"]),
        },
        "spec": {**template["spec"], "nodeName": "pi-a"}
        if phase != "Pending"
        else template["spec"],
        "status": status,
    }


@pytest.fixture(scope="module")
def workloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Doc]:
    """The fleet's rendered Deployments and StatefulSet, by name."""
    fleet_file = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    fleet_file.write_text(FLEET)
    files = render_k3s(stack_of(load_fleet(fleet_file), "1.2.3"))
    docs = [d for d in yaml.safe_load_all(files["workloads.yaml"]) if d]
    docs += [d for d in yaml.safe_load_all(files["mover.yaml"]) if d]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[StandIn]:
    server = StandIn(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def fleet(stand_in: StandIn, workloads: dict[str, Doc]) -> dict[str, Doc]:
    """Every pod of the fleet on the stand-in: one print server whose device is gone, the
    others as they must be left; the hub, the camera, the simulator, the printer reached
    over the network and the mover itself even exited with status 75 as well."""
    gone = terminated(EXIT_DEVICE_GONE)
    pods = {
        "gone": pod_of(workloads["printer-gone"], waiting(), gone),
        "fine": pod_of(workloads["printer-fine"], running()),
        "waiting": pod_of(workloads["printer-waiting"], waiting(), phase="Pending"),
        "crashed": pod_of(workloads["printer-crashed"], waiting(), terminated(1)),
        # Plugged back into the same host: the restarted print server runs again.
        "back": pod_of(workloads["printer-back"], running(), gone),
        "hub": pod_of(workloads["hub"], waiting(), gone),
        "camera": pod_of(workloads["camera-cam"], waiting(), gone),
        "simulator": pod_of(workloads["sim-sim"], waiting(), gone),
        "simulated": pod_of(workloads["printer-sim"], waiting(), gone),
        "bridge": pod_of(workloads["printer-bridge"], waiting(), gone),
        "mover": pod_of(workloads["mover"], waiting(), gone),
    }
    for pod in pods.values():
        stand_in.add(pod)
    return pods


class Rounds:
    """The mover's rounds against ``stand_in``, on one event loop and one HTTP session,
    as ``fabfleet-mover`` runs them."""

    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in
        self._runner = asyncio.Runner()
        self._session = self._runner.run(self._open())

    @staticmethod
    async def _open() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def __call__(
        self,
        *,
        timeout: float = 2.0,
        token_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> Round:
        """One round."""
        cluster = Cluster(
            server=self.stand_in.server,
            token_file=token_file or self.stand_in.token_file,
            ca_file=ca_file or self.stand_in.ca,
            timeout=timeout,
        )
        api = Api(cluster, self._session)
        return self._runner.run(asyncio.wait_for(one_round(api, NAMESPACE), 30))

    def close(self) -> None:
        async def close() -> None:
            await self._session.close()
            # TLS connections finish closing (aiohttp's docs, "Graceful Shutdown").
            await asyncio.sleep(0.25)

        self._runner.run(close())
        self._runner.close()


@pytest.fixture
def mover_round(stand_in: StandIn) -> Iterator[Rounds]:
    rounds = Rounds(stand_in)
    yield rounds
    rounds.close()


def untouched(stand_in: StandIn, pods: dict[str, Doc], *, but: tuple[str, ...] = ()) -> None:
    for key, pod in pods.items():
        if key in but:
            continue
        now = stand_in.pod(pod["metadata"]["name"])
        assert now is not None, key
        assert "deletionTimestamp" not in now["metadata"], key
        assert now["metadata"]["uid"] == pod["metadata"]["uid"], key


def test_a_pod_whose_device_is_gone_is_deleted_once_and_no_other(
    stand_in: StandIn,
    mover_round: Rounds,
    fleet: dict[str, Doc],
    workloads: dict[str, Doc],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fabfleet.mover")
    done = mover_round()
    assert done.errors == []
    assert [d.printer for d in done.deleted] == ["gone"]
    (delete,) = stand_in.deletes()
    name, uid = fleet["gone"]["metadata"]["name"], fleet["gone"]["metadata"]["uid"]
    assert delete.path == f"/api/v1/namespaces/{NAMESPACE}/pods/{name}"
    assert delete.body == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": uid},
    }
    assert delete.authorization == f"Bearer {stand_in.token}"
    assert delete.answered == 200
    # It listed only the print servers' pods, by label.
    (listed,) = stand_in.lists()
    assert listed.query == {
        "labelSelector": "app.kubernetes.io/part-of=fabfleet,app.kubernetes.io/component=printer"
    }
    line = next(r.getMessage() for r in caplog.records if "deleted pod" in r.getMessage())
    assert line.startswith(f"printer gone: deleted pod {name} (uid {uid})")
    assert "status 75" in line and "device was gone" in line and "pi-a" in line
    assert "CrashLoopBackOff" in line
    # While it is being deleted, and once its new pod waits for the printer: no more.
    mover_round()
    mover_round()
    assert stand_in.finish_deletions() == [name]
    fresh = pod_of(workloads["printer-gone"], {}, phase="Pending")
    fresh["metadata"]["name"] = "printer-gone-6d4cf56db6-q9w8e"
    stand_in.add(fresh)
    assert mover_round().deleted == []
    assert len(stand_in.deletes()) == 1
    untouched(stand_in, fleet, but=("gone",))


def test_a_print_server_that_has_just_ended_with_75_is_moved(
    stand_in: StandIn, mover_round: Rounds, workloads: dict[str, Doc]
) -> None:
    pod = stand_in.add(pod_of(workloads["printer-ended"], terminated(EXIT_DEVICE_GONE)))
    other = stand_in.add(pod_of(workloads["printer-crashed"], terminated(1)))
    assert [d.pod for d in mover_round().deleted] == [pod["metadata"]["name"]]
    assert "deletionTimestamp" not in (stand_in.pod(other["metadata"]["name"]) or {})["metadata"]


def test_a_large_fleet_is_read_whole(
    stand_in: StandIn, mover_round: Rounds, workloads: dict[str, Doc]
) -> None:
    """A pod list of several hundred kilobytes arrives in many pieces: read to its end."""
    for number in range(300):
        pod = pod_of(workloads["printer-fine"], running())
        pod["metadata"]["name"] = f"printer-fine-{number:03}"
        stand_in.add(pod)
    gone = stand_in.add(pod_of(workloads["printer-gone"], waiting(), terminated(75)))
    done = mover_round()
    assert done.errors == []
    assert [d.pod for d in done.deleted] == [gone["metadata"]["name"]]


def test_a_pod_replaced_by_a_new_one_of_the_same_name_is_not_deleted(
    stand_in: StandIn, mover_round: Rounds, fleet: dict[str, Doc], caplog: pytest.LogCaptureFixture
) -> None:
    """Between the list and the delete, a new pod takes the name: the uid precondition
    makes the API refuse (409 Conflict), and the new pod lives on."""
    caplog.set_level(logging.INFO, logger="fabfleet.mover")
    name = fleet["gone"]["metadata"]["name"]
    stand_in.replace_after_list.add(name)
    done = mover_round()
    assert done.deleted == [] and done.errors == []
    (delete,) = stand_in.deletes()
    assert delete.answered == 409
    now = stand_in.pod(name)
    assert now is not None and "deletionTimestamp" not in now["metadata"]
    assert now["metadata"]["uid"] != fleet["gone"]["metadata"]["uid"]
    assert any("nothing deleted" in r.getMessage() for r in caplog.records)
    # The new pod is Pending: nothing more to do.
    assert mover_round().deleted == []
    assert len(stand_in.deletes()) == 1


FAULTS = ["401", "403", "500", "503", "slow", "garbage", "not-a-list"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_answer_to_the_list_deletes_nothing_and_the_next_round_acts(
    stand_in: StandIn,
    mover_round: Rounds,
    fleet: dict[str, Doc],
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fabfleet.mover")
    # A slow answer takes 10 s; the round gives up after its 0.5 s timeout: it has ended
    # before the stand-in answered, however busy the machine.
    stand_in.slow = 10.0
    stand_in.fail_next(fault)
    done = mover_round(timeout=0.5)
    assert stand_in.slow_answered == 0, "every request has a timeout"
    assert done.deleted == [] and stand_in.deletes() == []
    (error,) = done.errors
    said = {
        "401": "401 Unauthorized: Unauthorized",
        "403": "403 Forbidden: pods is forbidden",
        "500": "500 Internal Server Error: etcdserver",
        "503": "503 Service Unavailable: etcdserver",
        "slow": "no answer within 0.5 s",
        "garbage": "not JSON",
        "not-a-list": "not a PodList",
    }[fault]
    assert said in error
    assert any("nothing deleted" in r.getMessage() for r in caplog.records)
    untouched(stand_in, fleet)
    assert [d.printer for d in mover_round().deleted] == ["gone"]
    assert len(stand_in.deletes()) == 1


@pytest.mark.parametrize("fault", ["403", "500", "slow"])
def test_a_failed_delete_is_tried_again_next_round(
    stand_in: StandIn, mover_round: Rounds, fleet: dict[str, Doc], fault: str
) -> None:
    stand_in.slow = 3.0
    stand_in.fail_next(fault, method="DELETE")
    done = mover_round(timeout=0.5)
    assert done.deleted == [] and len(done.errors) == 1
    assert "printer gone: cannot delete" in done.errors[0]
    untouched(stand_in, fleet)
    assert [d.printer for d in mover_round().deleted] == ["gone"]


def test_the_token_is_read_again_each_round(
    stand_in: StandIn, mover_round: Rounds, fleet: dict[str, Doc]
) -> None:
    """A wrong or missing token is refused and nothing deleted; the kubelet's new token
    is used as soon as it is in the file."""
    stand_in.token_file.write_text("an-old-token\n")
    done = mover_round()
    assert "401 Unauthorized" in done.errors[0] and done.deleted == []
    stand_in.token_file.unlink()
    done = mover_round()
    assert "cannot read the token" in done.errors[0] and done.deleted == []
    assert stand_in.deletes() == []
    stand_in.token_file.write_text(stand_in.token + "\n")
    assert [d.printer for d in mover_round().deleted] == ["gone"]


def test_a_server_the_ca_does_not_vouch_for_is_not_trusted(
    stand_in: StandIn, mover_round: Rounds, fleet: dict[str, Doc], tmp_path: Path
) -> None:
    (other := tmp_path / "other").mkdir()
    stranger, _ = make_certificate(other)
    done = mover_round(ca_file=stranger)
    assert done.deleted == [] and "certificate verify failed" in done.errors[0].lower()
    assert stand_in.lists() == [], "no request got through"
    done = mover_round(ca_file=tmp_path / "missing.crt")
    assert "cannot use the CA file" in done.errors[0]
    untouched(stand_in, fleet)


# --- the program, as the cluster runs it ---------------------------------------------


def console_script(name: str) -> list[str]:
    """How pip's launcher of the console script ``name`` runs it: its ``module:function``
    from pyproject.toml, imported and called (the checkout's code, installed or not)."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts[name].split(":")
    code = (
        f"import sys; from {module} import {function}; sys.argv[0] = {name!r};"
        f" sys.exit({function}())"
    )
    return [sys.executable, "-c", code]


def start_mover(arguments: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*console_script("fabfleet-mover"), *arguments],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], bool], seconds: float, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate(timeout=10)
            pytest.fail(f"the mover did not get there (exit {process.returncode}):\n{out}\n{err}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        pytest.fail(f"the mover did not stop on SIGTERM:\n{out}\n{err}")
    return out, err


def test_fabfleet_mover_in_a_pod_survives_bad_answers_and_moves_the_pod(
    stand_in: StandIn, fleet: dict[str, Doc]
) -> None:
    """The console script with a pod's environment (the server from
    KUBERNETES_SERVICE_HOST/PORT; token and CA files by environment, as the paths in a
    pod are fixed): four bad rounds, then the pod is deleted, once, and it stops on
    SIGTERM."""
    stand_in.slow = 3.0
    stand_in.fail_next("401", "500", "slow", "garbage")
    env = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(stand_in.port),
        "FABFLEET_KUBE_TOKEN_FILE": str(stand_in.token_file),
        "FABFLEET_KUBE_CA_FILE": str(stand_in.ca),
    }
    process = start_mover(["--interval", "0.2", "--timeout", "1"], env)
    wait_for(lambda: len(stand_in.deletes()) == 1, 30, process)
    rounds = len(stand_in.lists())
    wait_for(lambda: len(stand_in.lists()) >= rounds + 3, 30, process)
    out, err = stop(process)
    assert process.returncode == 0, err
    assert len(stand_in.deletes()) == 1
    assert [s.answered for s in stand_in.lists()[:4]] == [401, 500, 200, 200]
    name = fleet["gone"]["metadata"]["name"]
    assert f"https://127.0.0.1:{stand_in.port}" in out
    for said in ("401 Unauthorized", "500 Internal Server Error", "no answer within 1 s"):
        assert said in out
    assert "not JSON" in out
    deleted = [line for line in out.splitlines() if "deleted pod" in line]
    assert len(deleted) == 1
    assert f"printer gone: deleted pod {name}" in deleted[0] and "status 75" in deleted[0]
    assert "stopped" in out.splitlines()[-1]
    untouched(stand_in, fleet, but=("gone",))


def test_fabfleet_mover_takes_its_files_and_server_as_options(
    stand_in: StandIn, fleet: dict[str, Doc]
) -> None:
    arguments = [
        "--server", stand_in.server, "--token-file", str(stand_in.token_file),
        "--ca-file", str(stand_in.ca), "--namespace", NAMESPACE, "--interval", "0.2",
    ]  # fmt: skip
    process = start_mover(arguments, {})
    wait_for(lambda: len(stand_in.deletes()) == 1, 30, process)
    out, _ = stop(process)
    assert process.returncode == 0
    assert "printer gone: deleted pod" in out


@pytest.mark.parametrize(
    ("arguments", "env", "said"),
    [
        ([], {}, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"),
        (["--server", "http://127.0.0.1:1"], {}, "over https:// only"),
        (["--interval", "0"], {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"},
         "more than 0"),
    ],
)  # fmt: skip
def test_fabfleet_mover_refuses_to_start_without_what_it_needs(
    arguments: list[str], env: dict[str, str], said: str
) -> None:
    done = subprocess.run(
        [*console_script("fabfleet-mover"), *arguments],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert said in done.stderr


def test_python_m_runs_the_same_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.mover", "--help"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: fabfleet-mover")


def test_the_server_from_a_pods_environment_on_ipv4_and_ipv6() -> None:
    assert server_of("10.43.0.1", "443") == "https://10.43.0.1:443"
    assert server_of("fd00:43::1", "443") == "https://[fd00:43::1]:443"
