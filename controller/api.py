"""REST + JSON API on a unix socket; the only way into the daemon (the CLI is a client of it)."""

from __future__ import annotations

import json
import logging
import os
import re
import socketserver
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from controller.errors import HawserError, InvalidArgument

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


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

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")


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
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(method, pattern, fn, summary, status, body))
            return fn

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.regex.match(path)
            if found and route.method == method:
                return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None

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
            "openapi": "3.0.3",
            "info": {"title": "Hawser API", "version": "1"},
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


def _make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("api: " + format, *args)

        def address_string(self) -> str:
            return "unix"

        def _send_json(self, status: int, payload: Any) -> None:
            data = b"" if status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:  # writing b"" after a 204 races the client's close (EPIPE)
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

        def _dispatch(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            found = router.match(method, url.path)
            if found is None:
                self._send_json(404, {"message": f"page not found: {method} {url.path}"})
                return
            route, params = found
            started = time.perf_counter()
            failed = False
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    raise InvalidArgument("request body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise InvalidArgument("request body must be a JSON object")
                query = dict(urllib.parse.parse_qsl(url.query))
                result = route.handler(Request(method, url.path, params, query, body))
            except HawserError as exc:
                failed = True
                self._send_json(exc.status, {"message": exc.message})
                return
            except Exception as exc:  # one clear line, details in the log
                failed = True
                log.exception("%s %s failed", method, url.path)
                self._send_json(500, {"message": f"internal error: {exc}"})
                return
            finally:
                if method != "GET":
                    router.observe(route.handler.__name__, time.perf_counter() - started, failed)
            if isinstance(result, Stream):
                self._send_stream(result.items)
            else:
                self._send_json(route.status, result)

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

    return ApiHandler


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply is routine; anything else is logged."""
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            log.debug("api client went away")
        else:
            log.exception("api request failed")


def serve(router: Router, path: Path) -> UnixServer:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    server = UnixServer(str(path), _make_handler(router))
    os.chmod(path, 0o660)
    return server


def stream(items: Iterator[dict[str, Any]]) -> Stream:
    return Stream(items)
