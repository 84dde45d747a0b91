"""A fake Hawser API server on a unix socket, for the CLI's tests.

Routes answer canned JSON or NDJSON streams and every request is recorded, so a
test can assert both what the CLI sent and how it printed the answer.
"""

from __future__ import annotations

import json
import os
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Route:
    status: int = 200
    body: Any = None
    # NDJSON stream: each item is an object to send, or a callable run between items
    # (e.g. an Event wait) so a test can control when the next line leaves.
    stream: Iterable[Any] | None = None


@dataclass
class FakeDaemon:
    """``with FakeDaemon() as fake: fake.route("GET", "/v1/networks", body=[...])``."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    socket_path: str = ""

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        body: Any = None,
        stream: Iterable[Any] | None = None,
    ) -> None:
        self.routes[(method, path)] = Route(status, body, stream)

    def error(self, method: str, path: str, status: int, message: str) -> None:
        self.route(method, path, status=status, body={"message": message})

    def __enter__(self) -> FakeDaemon:
        self._dir = tempfile.mkdtemp(prefix="hawser-cli-")
        self.socket_path = os.path.join(self._dir, "api.sock")
        self._server = _Server(self.socket_path, _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        os.rmdir(self._dir)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up early (EPIPE) is routine here; socketserver's default would
        print a traceback to the stderr that the CLI tests capture and compare."""


def _handler_for(fake: FakeDaemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            pass

        def address_string(self) -> str:
            return "unix"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.requests.append(Recorded(self.command, url.path, dict(parse_qsl(url.query)), body))
            route = fake.routes.get((self.command, url.path))
            if route is None:
                route = Route(404, {"message": f"no route for {self.command} {url.path}"})
            if route.stream is not None:
                self._send_stream(route)
            else:
                self._send_json(route)

        def _send_json(self, route: Route) -> None:
            data = b"" if route.body is None else json.dumps(route.body).encode()
            self.send_response(route.status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, route: Route) -> None:
            self.send_response(route.status)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for item in route.stream or ():
                if callable(item):
                    _run(item)
                    continue
                line = json.dumps(item).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _run(fn: Callable[[], Any]) -> None:
    fn()


def invoke(fake: FakeDaemon, *args: str, input: str | None = None) -> Any:  # noqa: A002
    """Run ``hawser --socket <fake> ARGS`` in click's runner; re-raise unexpected exceptions."""
    from click.testing import CliRunner

    from cli.main import hawser

    result = CliRunner().invoke(hawser, ["--socket", fake.socket_path, *args], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
