"""A stand-in for the Kubernetes API server: real HTTPS on loopback, the two pod requests.

No Kubernetes cluster runs where fabfleet is tested, so the mover is tested against this:
an aiohttp server in a thread of its own with a self-signed certificate made by
``openssl`` (the mover must verify it with the CA file it is given), which checks the
bearer token and answers as the API server does (API reference, core/v1 Pod operations):

- ``GET /api/v1/namespaces/{namespace}/pods?labelSelector=k=v,…``: a ``PodList``
  (``kind``, ``apiVersion``, ``metadata.resourceVersion``, ``items``) of the namespace's
  pods matching the equality-based selector;
- ``DELETE /api/v1/namespaces/{namespace}/pods/{name}`` with a ``DeleteOptions`` body:
  404 ``NotFound`` when there is no such pod, 409 ``Conflict`` when
  ``preconditions.uid`` is not the pod's ("Precondition failed: UID in precondition: …,
  UID in object meta: …", as k8s.io/apiserver's store says), else 200 with the pod, now
  carrying ``deletionTimestamp`` (a graceful deletion: it stays listed until
  :meth:`StandIn.finish_deletions`, as a pod does until its kubelet has stopped it);
- a missing or wrong token: 401 with a ``Status`` (``reason: Unauthorized``).

Faults queued with :meth:`StandIn.fail_next` answer the next requests instead: an error
status with a ``Status`` body, garbage, a body that is JSON but no pod list, or no answer
for longer than the mover waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

Doc = dict[str, Any]
PREFIX = "/api/v1/namespaces/"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the certificate is the CA)."""
    cert, key = folder / "ca.crt", folder / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=kube-apiserver",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def status(code: int, reason: str, message: str, details: Doc | None = None) -> web.Response:
    """A ``Status`` answer, as the API server gives with every error."""
    body: Doc = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=code)


@dataclass
class Seen:
    """A request the stand-in answered."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Doc | None
    answered: int


@dataclass
class StandIn:
    """The stand-in API server; its pods, faults and requests are shared with the test."""

    folder: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    pods: dict[tuple[str, str], Doc] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=lambda: {"GET": [], "DELETE": []})
    # Pods replaced by a new pod of the same name right after the next list (a race).
    replace_after_list: set[str] = field(default_factory=set)
    slow: float = 3.0
    # How many "slow" answers have waited their ``slow`` seconds to the end.
    slow_answered: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self.ca, self._key = make_certificate(self.folder)
        self.token_file = self.folder / "token"
        self.token_file.write_text(self.token + "\n")
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._version = 1000
        self._stopping = asyncio.Event()

    # --- the test's side ------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def add(self, pod: Doc, namespace: str = "fabfleet") -> Doc:
        """Add ``pod`` (its metadata gets namespace, uid and the like if it lacks them)."""
        meta = pod.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("resourceVersion", self._next_version())
        meta.setdefault("creationTimestamp", _now())
        with self._lock:
            self.pods[(meta["namespace"], meta["name"])] = pod
        return pod

    def fail_next(self, *faults: str, method: str = "GET") -> None:
        """Answer the next requests of ``method`` with these, in order: an HTTP status
        ("401", "403", "500", "503"), "garbage" (not JSON), "not-a-list" (JSON, but a
        Status), "slow" (nothing for ``slow`` seconds, then the right answer)."""
        with self._lock:
            self.faults[method].extend(faults)

    def deletes(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "DELETE"]

    def lists(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "GET"]

    def pod(self, name: str, namespace: str = "fabfleet") -> Doc | None:
        with self._lock:
            found = self.pods.get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def finish_deletions(self) -> list[str]:
        """The pods being deleted are gone (their kubelet stopped them); their names."""
        with self._lock:
            gone = [k for k, p in self.pods.items() if p["metadata"].get("deletionTimestamp")]
            for key in gone:
                del self.pods[key]
        return [name for _, name in gone]

    # --- the server's side ----------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(PREFIX + "{namespace}/pods", self._list)
        app.router.add_delete(PREFIX + "{namespace}/pods/{name}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.ca, self._key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def _seen(self, request: web.Request, answered: int) -> None:
        body = None
        if request.can_read_body:
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = {"unreadable": True}
        with self._lock:
            self.seen.append(
                Seen(
                    request.method,
                    request.path,
                    dict(request.query),
                    request.headers.get("Authorization"),
                    body,
                    answered,
                )
            )

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        with self._lock:
            queue = self.faults[request.method]
            fault = queue.pop(0) if queue else None
        if fault is None:
            return None
        if fault == "slow":
            # Wakes early when the stand-in stops.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.slow)
                return None
            with self._lock:
                self.slow_answered += 1
            return None
        if fault == "garbage":
            answer = web.Response(
                status=200, body=b'{"kind": "PodList", "items": [', content_type="application/json"
            )
        elif fault == "not-a-list":
            answer = status(200, "", "this is no pod list")
        elif fault == "401":
            answer = status(401, "Unauthorized", "Unauthorized")
        elif fault == "403":
            answer = status(
                403,
                "Forbidden",
                'pods is forbidden: User "system:serviceaccount:fabfleet:mover" cannot'
                f' {request.method.lower()} resource "pods" in API group "" in the'
                ' namespace "fabfleet"',
            )
        else:
            answer = status(int(fault), "InternalError", "etcdserver: request timed out")
        await self._seen(request, answer.status)
        return answer

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _list(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._fault(request)
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            await self._seen(request, 401)
            return status(401, "Unauthorized", "Unauthorized")
        namespace = request.match_info["namespace"]
        wanted = [
            tuple(term.split("=", 1))
            for term in request.query.get("labelSelector", "").split(",")
            if term
        ]
        with self._lock:
            items = [
                copy.deepcopy(pod)
                for (space, _), pod in sorted(self.pods.items())
                if space == namespace
                and all(pod["metadata"].get("labels", {}).get(k) == v for k, v in wanted)
            ]
            for name in list(self.replace_after_list):
                old = self.pods.get((namespace, name))
                if old is not None:
                    new = copy.deepcopy(old)
                    new["metadata"]["uid"] = str(uuid.uuid4())
                    new["status"] = {"phase": "Pending"}
                    self.pods[(namespace, name)] = new
                    self.replace_after_list.discard(name)
            version = self._next_version()
        await self._seen(request, 200)
        return web.json_response(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": version},
                "items": items,
            }
        )

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._fault(request)
        if faulty is not None:
            return faulty
        if not self._authorized(request):
            await self._seen(request, 401)
            return status(401, "Unauthorized", "Unauthorized")
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        options: Doc = {}
        if request.can_read_body:
            options = json.loads(await request.read())
        wanted_uid = (options.get("preconditions") or {}).get("uid")
        with self._lock:
            pod = self.pods.get((namespace, name))
            if pod is None:
                answer = status(
                    404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}
                )
            elif wanted_uid is not None and wanted_uid != pod["metadata"]["uid"]:
                answer = status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on pods "{name}": Precondition failed:'
                    f" UID in precondition: {wanted_uid}, UID in object meta:"
                    f" {pod['metadata']['uid']}",
                    {"name": name, "kind": "pods"},
                )
            else:
                meta = pod["metadata"]
                meta.setdefault("deletionTimestamp", _now())
                meta.setdefault("deletionGracePeriodSeconds", 30)
                meta["resourceVersion"] = self._next_version()
                answer = web.json_response({"kind": "Pod", "apiVersion": "v1", **pod})
            self.seen.append(
                Seen(request.method, request.path, dict(request.query),
                     request.headers.get("Authorization"), options, answer.status)
            )  # fmt: skip
        return answer


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
