"""The Kubernetes API, as the mover uses it: list pods, delete one pod if its uid holds.

HTTPS to the API server with the pod's ServiceAccount: the bearer token and the cluster's
CA from the files the kubelet mounts (``/var/run/secrets/kubernetes.io/serviceaccount``),
the server from ``KUBERNETES_SERVICE_HOST``/``_PORT``. The token is read again for every
request, as the kubelet replaces it before it expires (a bound ServiceAccount token lasts
about an hour); the CA file too, in case the cluster's CA changes. Every request has a
timeout.
Anything but the expected answer is an :class:`ApiError` in one line.

Paths and answers follow the API reference (core/v1 Pod operations):
``GET /api/v1/namespaces/{namespace}/pods?labelSelector=…`` answers a ``PodList``;
``DELETE /api/v1/namespaces/{namespace}/pods/{name}`` with a ``DeleteOptions`` body answers
200 (the pod, now being deleted) or 202, 404 when there is no such pod, and 409 Conflict
when ``preconditions.uid`` is not the pod's (a new pod took the name).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import aiohttp

# Where the kubelet mounts a pod's ServiceAccount token and the cluster's CA.
ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE = ACCOUNT / "token"
CA_FILE = ACCOUNT / "ca.crt"
# The most of an answer read: a pod list of a large fleet is far smaller.
MOST = 32 * 1024 * 1024

Outcome = Literal["deleted", "gone", "replaced"]


class ApiError(Exception):
    """A request that got no usable answer (said in one line)."""


@dataclass(frozen=True)
class Cluster:
    """Where the API server is and how the mover proves who it is."""

    server: str
    token_file: Path = TOKEN_FILE
    ca_file: Path = CA_FILE
    timeout: float = 10.0


def server_of(host: str, port: str) -> str:
    """The API server's URL from ``KUBERNETES_SERVICE_HOST`` and ``_PORT``."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _token(cluster: Cluster) -> str:
    try:
        token = cluster.token_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ApiError(f"cannot read the token {cluster.token_file}: {error}") from error
    if not token:
        raise ApiError(f"the token file {cluster.token_file} is empty")
    return token


def _tls(cluster: Cluster) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(cluster.ca_file))
    except (OSError, ssl.SSLError) as error:
        raise ApiError(f"cannot use the CA file {cluster.ca_file}: {error}") from error


def _said(status: int, reason: str | None, body: bytes) -> str:
    """``401 Unauthorized: <the API's message>`` from an answer that is not the one hoped."""
    message = ""
    try:
        answer = json.loads(body)
        if isinstance(answer, dict) and isinstance(answer.get("message"), str):
            message = answer["message"]
    except ValueError:
        pass
    words = f"{status} {reason or ''}".strip()
    return f"{words}: {message[:300]}" if message else words


class Api:
    """The two requests the mover makes, over one HTTP session."""

    def __init__(self, cluster: Cluster, session: aiohttp.ClientSession) -> None:
        self.cluster = cluster
        self._session = session

    async def _request(
        self, method: str, path: str, params: dict[str, str] | None, body: object
    ) -> tuple[int, str | None, bytes]:
        headers = {"Authorization": f"Bearer {_token(self.cluster)}", "Accept": "application/json"}
        tls = _tls(self.cluster)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        try:
            async with self._session.request(
                method,
                f"{self.cluster.server}{path}",
                params=params,
                data=data,
                headers=headers,
                ssl=tls,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.cluster.timeout),
            ) as response:
                answer = bytearray()
                async for chunk in response.content.iter_any():
                    answer += chunk
                    if len(answer) > MOST:
                        raise ApiError(f"{method} {path}: the answer is larger than {MOST} bytes")
                return response.status, response.reason, bytes(answer)
        except TimeoutError as error:
            raise ApiError(
                f"{method} {path}: no answer within {self.cluster.timeout:g} s"
            ) from error
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise ApiError(f"{method} {path}: {type(error).__name__}: {error}") from error

    async def list_pods(self, namespace: str, selector: str) -> object:
        """The ``PodList`` of ``namespace``'s pods matching ``selector``, parsed (not yet
        checked: :func:`orchestrator.mover.decide.decide` does)."""
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
        status, reason, body = await self._request("GET", path, {"labelSelector": selector}, None)
        if status != 200:
            raise ApiError(f"GET {path}: {_said(status, reason, body)}")
        try:
            return json.loads(body)
        except ValueError as error:
            raise ApiError(f"GET {path}: the answer is not JSON ({error})") from error

    async def delete_pod(self, namespace: str, name: str, uid: str) -> Outcome:
        """Delete pod ``name`` only if it is still the pod ``uid``.

        ``deleted``; ``gone`` (no pod of that name); ``replaced`` (another pod has the name
        now: the API refused with 409 Conflict and deleted nothing).
        """
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        status, reason, body = await self._request("DELETE", path, None, options)
        if status in (200, 202):
            return "deleted"
        if status == 404:
            return "gone"
        if status == 409:
            return "replaced"
        raise ApiError(f"DELETE {path}: {_said(status, reason, body)}")
