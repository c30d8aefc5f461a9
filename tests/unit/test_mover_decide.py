"""The mover's decision (orchestrator/mover/decide.py): a pod is deleted only when all is
as it must be; anything missing, odd or of another kind leaves it alone.

The pods are in the API's shapes (API reference, Pod v1); tests/orchestrator/test_mover.py
runs the same decision over HTTPS with the pods fabfleet renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.mover.decide import EXIT_DEVICE_GONE, ShapeError, decide, judge

Doc = dict[str, Any]


def gone_pod() -> Doc:
    """A USB printer's pod whose print server last exited with 75 and waits to restart."""
    return {
        "metadata": {
            "name": "printer-mk3-6d4cf56db6-x7k2p",
            "namespace": "fabfleet",
            "uid": "5c1a3e9e-2f55-4d7e-9d1c-1b0f3c8a7e21",
            "labels": {
                "app.kubernetes.io/name": "printer-mk3",
                "app.kubernetes.io/part-of": "fabfleet",
                "app.kubernetes.io/component": "printer",
                "fabfleet.io/printer": "mk3",
            },
        },
        "spec": {
            "nodeName": "pi-a",
            "containers": [
                {
                    "name": "printer",
                    "resources": {
                        "requests": {"cpu": "50m", "fabfleet.io/printer-mk3": "1"},
                        "limits": {"memory": "256Mi", "fabfleet.io/printer-mk3": "1"},
                    },
                }
            ],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "printer",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 75, "reason": "Error"}},
                    "ready": False,
                    "restartCount": 2,
                }
            ],
        },
    }


def status_of(pod: Doc) -> Doc:
    status: Doc = pod["status"]["containerStatuses"][0]
    return status


def test_the_pod_of_a_printer_whose_device_is_gone_is_deleted() -> None:
    (deletion,) = decide({"kind": "PodList", "apiVersion": "v1", "items": [gone_pod()]})
    assert (deletion.pod, deletion.printer, deletion.node) == (
        "printer-mk3-6d4cf56db6-x7k2p",
        "mk3",
        "pi-a",
    )
    assert deletion.uid == "5c1a3e9e-2f55-4d7e-9d1c-1b0f3c8a7e21"
    assert "status 75" in deletion.why and "CrashLoopBackOff" in deletion.why


_DROP = object()
STATUS = ("status", "containerStatuses", 0)
LABELS = ("metadata", "labels")


def _set(*path: str | int, to: object) -> Callable[[Doc], None]:
    """A change of ``pod`` at ``path`` (keys and list indexes): ``to``, or dropped."""

    def change(pod: Doc) -> None:
        where: Any = pod
        for key in path[:-1]:
            where = where[key]
        if to is _DROP:
            del where[path[-1]]
        else:
            where[path[-1]] = to

    return change


LEFT_ALONE = [
    ("running again", _set(*STATUS, "state", to={"running": {}})),
    ("another status", _set(*STATUS, "lastState", "terminated", "exitCode", to=1)),
    ("status as text", _set(*STATUS, "lastState", "terminated", "exitCode", to="75")),
    ("status as bool", _set(*STATUS, "lastState", "terminated", "exitCode", to=True)),
    ("never ended", _set(*STATUS, "lastState", to={})),
    ("unknown state", _set(*STATUS, "state", to={"paused": {}})),
    ("no statuses", _set("status", "containerStatuses", to=_DROP)),
    ("statuses not a list", _set("status", "containerStatuses", to={"printer": {}})),
    ("another container", _set(*STATUS, "name", to="sidecar")),
    ("being deleted", _set("metadata", "deletionTimestamp", to="2026-12-04T14:00:00Z")),
    ("failed", _set("status", "phase", to="Failed")),
    ("succeeded", _set("status", "phase", to="Succeeded")),
    ("no uid", _set("metadata", "uid", to=_DROP)),
    ("empty name", _set("metadata", "name", to="")),
    ("not fabfleet's", _set(*LABELS, "app.kubernetes.io/part-of", to="other")),
    ("no printer label", _set(*LABELS, "fabfleet.io/printer", to=_DROP)),
    ("another printer's device", _set(*LABELS, "fabfleet.io/printer", to="other")),
    ("no device", _set("spec", "containers", 0, "resources", to={"limits": {"memory": "1Mi"}})),
    ("a simulator", _set(*LABELS, "app.kubernetes.io/component", to="simulator")),
    ("a camera", _set(*LABELS, "app.kubernetes.io/component", to="camera")),
    ("the hub", _set(*LABELS, "app.kubernetes.io/component", to="hub")),
]


@pytest.mark.parametrize("change", [c for _, c in LEFT_ALONE], ids=[i for i, _ in LEFT_ALONE])
def test_anything_short_of_that_leaves_the_pod_alone(change: Callable[[Doc], None]) -> None:
    pod = gone_pod()
    change(pod)
    assert judge(pod) is None


def test_a_print_server_that_has_just_ended_with_75_is_moved() -> None:
    pod = gone_pod()
    status_of(pod)["state"] = {"terminated": {"exitCode": 75}}
    status_of(pod)["lastState"] = {}
    deletion = judge(pod)
    assert deletion is not None and "has just ended" in deletion.why


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "PodList",
        {},
        {"kind": "Status"},
        {"kind": "PodList"},
        {"kind": "PodList", "items": None},
    ],
)
def test_an_answer_that_is_no_pod_list_is_refused(answer: object) -> None:
    with pytest.raises(ShapeError):
        decide(answer)


def test_odd_items_are_skipped_and_the_good_one_still_acted_on() -> None:
    items = [None, 3, "pod", {}, {"metadata": None}, gone_pod()]
    assert [d.printer for d in decide({"kind": "PodList", "items": items})] == ["mk3"]


def test_the_status_it_looks_for_is_the_one_the_print_server_exits_with() -> None:
    from instance.web.server import EXIT_DEVICE_GONE as print_servers

    assert EXIT_DEVICE_GONE == print_servers == 75
