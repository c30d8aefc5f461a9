"""Requests sent exactly as written, for URIs a client library would rewrite (a '#', '..',
percent-encoding) and for WebSocket handshakes with a chosen Origin."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit


def exchange(base: str, head: list[str], headers: dict[str, str], whole: bool = True) -> bytes:
    """Send the request line(s) ``head`` plus ``headers`` to ``base`` (http://HOST:PORT/);
    the answer, all of it (``whole``) or its first bytes."""
    address = urlsplit(base)
    lines = [*head, f"Host: {address.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = connection.recv(65536)
        while whole and (chunk := connection.recv(65536)):
            answer += chunk
    return answer


def raw(base: str, line: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request with the request line ``line`` as written; its status and body."""
    sent = {"Connection": "close", "Content-Length": "0", **(headers or {})}
    head, _, body = exchange(base, [line], sent).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def handshake(base: str, path: str, headers: dict[str, str], origin: str | None) -> int:
    """The status a WebSocket handshake for ``path`` gets (101: accepted)."""
    sent = {
        **headers,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    if origin is not None:
        sent["Origin"] = origin
    first = exchange(base, [f"GET {path} HTTP/1.1"], sent, whole=False).split(b"\r\n", 1)[0]
    return int(first.split()[1])
