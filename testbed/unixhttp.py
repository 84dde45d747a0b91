"""HTTP+JSON over a unix socket: how tests and the benchmark talk to a daemon's API directly
(no CLI start-up in the measurement, no dependency on cli/)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def request(
    socket_path: str, method: str, path: str, body: Any = None, timeout: float = 30
) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON body or None). OSError if nothing listens."""
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw.strip() else None)
    finally:
        conn.close()
