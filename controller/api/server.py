"""REST + JSON API on a unix socket; the only way into the daemon (the CLI is a client of it).

Every answer that is not a success, down to the HTTP layer's own (a malformed request line,
an unknown method, a body too large, too many headers), is JSON ``{"message": "…"}``.
Request bodies are at most ``MAX_BODY`` bytes with a ``Content-Length`` and are validated
against the route's schema (``controller.api.validation``) before the handler runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import socketserver
import struct
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from controller.api import validation
from controller.api.hijack import Hijack
from controller.errors import HawserError, InvalidArgument, one_line

log = logging.getLogger(__name__)

#: Larger request bodies are refused with 413 before they are read.
MAX_BODY = 1 << 20
#: Seconds a client may take to send its request line, headers and body.
REQUEST_TIMEOUT = 60.0


class HttpError(HawserError):
    """A refusal of the HTTP layer with its own status (411, 413…)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    upgrade: str = ""  # the Upgrade header (``tcp`` for a hijacked stream)
    peer_pid: int = 0  # the client's pid (SO_PEERCRED): hawser-cni's, the runtime's child


class Stream:
    """A handler result streamed as NDJSON lines (chunked)."""

    def __init__(self, items: Iterable[dict[str, Any]]) -> None:
        self.items = items


Handler = Callable[[Request], Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # /v1/networks/{ref}
    handler: Handler
    summary: str
    status: int = 200
    body: dict[str, Any] | None = None  # JSON schema of the request body
    query: dict[str, dict[str, Any]] | None = None  # JSON schema of each query parameter

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")

    def check_body(self, body: dict[str, Any]) -> None:
        if self.body is not None:
            validation.check_body(self.body, body)

    def check_query(self, query: dict[str, str]) -> None:
        """Declared query parameters are checked; others are ignored, as Docker does."""
        if self.query:
            schema = {"type": "object", "properties": self.query}
            validation.check_body(schema, {k: v for k, v in query.items() if k in self.query})


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.observe: Callable[[str, float, bool], None] = lambda op, seconds, failed: None

    def add(
        self,
        method: str,
        pattern: str,
        summary: str,
        status: int = 200,
        body: dict[str, Any] | None = None,
        query: dict[str, dict[str, Any]] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(method, pattern, fn, summary, status, body, query))
            return fn

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.regex.match(path)
            if found and route.method == method:
                return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None

    def methods(self, path: str) -> list[str]:
        """The methods some route serves at ``path`` (for 405's ``Allow``)."""
        return sorted({r.method for r in self.routes if r.regex.match(path)})

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for route in self.routes:
            params = re.findall(r"\{(\w+)\}", route.pattern)
            operation: dict[str, Any] = {
                "summary": route.summary,
                "operationId": route.handler.__name__,
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params
                ]
                + [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (route.query or {}).items()
                ],
                "responses": {
                    str(route.status): {"description": "success"},
                    "default": {
                        "description": "error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            if route.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": route.body}},
                }
            paths.setdefault(route.pattern, {})[route.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Hawser API",
                "version": "1",
                "description": (
                    f"Request bodies: JSON objects of at most {MAX_BODY} bytes, sent with a "
                    "Content-Length; unknown fields are refused; no string may hold a NUL "
                    'byte. Every error is {"message": "..."}.'
                ),
            },
            "paths": paths,
            "components": {
                "schemas": {
                    "Error": {
                        "type": "object",
                        "properties": {"message": {"type": "string"}},
                        "required": ["message"],
                    }
                }
            },
        }


def _content_length(headers: Any) -> int:
    """The body's length from the headers, refusing what cannot be read safely."""
    if headers.get("Transfer-Encoding"):
        raise HttpError(411, "a request body must be sent with a Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    text = values[0].strip()
    if len(set(values)) > 1 or not text.isdigit() or not text.isascii():
        raise InvalidArgument(f"invalid Content-Length header: {values[0]!r}")
    length = int(text)
    if length > MAX_BODY:
        raise HttpError(413, f"request body too large: {length} bytes (at most {MAX_BODY})")
    return length


def _make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        default_request_version = "HTTP/1.1"  # errors before the version is known get headers
        timeout = REQUEST_TIMEOUT

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("api: " + format, *args)

        def address_string(self) -> str:
            return "unix"

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """The HTTP layer's own refusals (400, 414, 431, 501…), as JSON like the rest."""
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "Error"
            self.close_connection = True
            self._send_json(code, {"message": one_line(message or phrase)}, close=True)

        def _send_json(
            self,
            status: int,
            payload: Any,
            close: bool = False,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = b"" if status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if data and self.command != "HEAD":  # b"" after a 204 races the client's close
                self.wfile.write(data)

        def _send_stream(self, items: Iterable[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for item in items:
                    line = json.dumps(item).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                close = getattr(items, "close", None)
                if close:
                    close()

        def _read_body(self) -> dict[str, Any]:
            keep = self.close_connection
            self.close_connection = True  # until the whole body has been read
            length = _content_length(self.headers)
            raw = self.rfile.read(length) if length else b""
            if len(raw) < length:
                raise InvalidArgument(f"request body cut short: {len(raw)} of {length} bytes")
            self.close_connection = keep
            return validation.decode(raw)

        def _dispatch(self, method: str) -> None:
            try:
                self._serve(method)
            finally:  # reading the next request on this connection has a deadline again
                self.connection.settimeout(self.timeout)

        def _serve(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            found = router.match(method, url.path)
            if found is None:
                self._refuse(method, url.path)
                return
            route, params = found
            started = time.perf_counter()
            failed = True
            try:
                body = self._read_body()
                self.connection.settimeout(None)  # a handler or a stream may take long
                route.check_body(body)
                query = dict(urllib.parse.parse_qsl(url.query))
                route.check_query(query)
                upgrade = str(self.headers.get("Upgrade") or "")
                request = Request(
                    method, url.path, params, query, body, upgrade=upgrade,
                    peer_pid=self._peer_pid(),
                )  # fmt: skip
                result = route.handler(request)
                failed = False
            except HawserError as exc:
                extra = getattr(exc, "extra", {})  # fields a front end's client reads
                payload = {"message": exc.message, **extra}
                self._send_json(exc.status, payload, self.close_connection)
                return
            except Exception as exc:  # one clear line, details in the log
                log.exception("%s %s failed", method, url.path)
                self._send_json(500, {"message": one_line(f"internal error: {exc}")})
                return
            finally:
                if method != "GET":
                    router.observe(route.handler.__name__, time.perf_counter() - started, failed)
            if isinstance(result, Stream):
                self._send_stream(result.items)
            elif isinstance(result, Hijack):
                self._hijack(result)
            else:
                self._send_json(route.status, result)

        def _hijack(self, hijack: Hijack) -> None:
            """Docker's upgrade: ``101 UPGRADED`` when the client asked for ``Upgrade: tcp``
            (else ``200 OK``), then the connection is the stream until ``run`` returns."""
            self.close_connection = True
            if self.headers.get("Upgrade"):
                head = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            else:
                head = "HTTP/1.1 200 OK\r\n"
            head += f"Content-Type: {hijack.media_type}\r\n\r\n"
            try:
                self.wfile.write(head.encode())
                self.wfile.flush()
                hijack.run(self.connection, self.rfile)  # type: ignore[arg-type]
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _peer_pid(self) -> int:
            try:
                creds = self.connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            except OSError:
                return 0
            return int(struct.unpack("3i", creds)[0])

        def _refuse(self, method: str, path: str) -> None:
            """No route: 404, or 405 with ``Allow`` when the path takes other methods."""
            allowed = router.methods(path)
            if not allowed:
                message = one_line(f"page not found: {method} {path}")
                self._send_json(404, {"message": message}, close=True)
                return
            message = f"method {method} not allowed for {path} (allowed: {', '.join(allowed)})"
            self._send_json(
                405,
                {"message": one_line(message)},
                close=True,
                headers={"Allow": ", ".join(allowed)},
            )

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_HEAD(self) -> None:  # noqa: N802
            self._dispatch("HEAD")

        def do_OPTIONS(self) -> None:  # noqa: N802
            self._dispatch("OPTIONS")

    return ApiHandler


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a few dozen clients at once (an orchestrator, a
    # script starting containers in parallel) would see EAGAIN on connect, not a wait
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply is routine; anything else is logged."""
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            log.debug("api client went away")
        else:
            log.exception("api request failed")


def serve(router: Router, path: Path, gid: int | None = None) -> UnixServer:
    """Listen on ``path``: mode 0660, group ``gid`` (None: root's group)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    server = UnixServer(str(path), _make_handler(router))
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    return server


def stream(items: Iterator[dict[str, Any]]) -> Stream:
    return Stream(items)
