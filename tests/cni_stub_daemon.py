"""A stand-in for the daemon's CNI endpoints (the contract in controller/plugins/cni/client.py),
for driving the real ``hawser-cni`` executable without a daemon (its unit tests)."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

Reply = tuple[int, dict[str, Any]]
Handler = Callable[[str, dict[str, Any], int], Reply]


class StubDaemon:
    """Serves POSTs on a unix socket; ``handler(path, body, peer_pid)`` answers each. Every
    request is recorded as ``(path, body, peer_pid)``."""

    def __init__(self, socket_path: Path, handler: Handler) -> None:
        self.socket_path = socket_path
        self.requests: list[tuple[str, dict[str, Any], int]] = []
        stub = self

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw)
                creds = self.request.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
                )
                pid = struct.unpack("3i", creds)[0]
                stub.requests.append((self.path, body, pid))
                status, reply = handler(self.path, body, pid)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self._server = Server(str(socket_path), Handle)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.socket_path.unlink(missing_ok=True)
