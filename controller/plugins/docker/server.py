"""The plugin's HTTP server on its own unix socket, and the ``.spec`` file that points at it.

dockerd finds a plugin named ``hawser`` as ``/run/docker/plugins/hawser.sock`` (the default
socket here) or, for a socket elsewhere, through ``/etc/docker/plugins/hawser.spec`` holding
``unix://<path>``. Every call is a POST with a JSON body; replies carry Docker's plugin content
type.
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from controller.plugins.docker.backend import DockerBackend
from controller.plugins.docker.handlers import dispatch, error_field

log = logging.getLogger(__name__)

PLUGIN_NAME = "hawser"
DEFAULT_SOCKET = Path("/run/docker/plugins") / f"{PLUGIN_NAME}.sock"
SPEC_DIR = Path("/etc/docker/plugins")
CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
MAX_BODY = 1 << 20  # a plugin call is a few hundred bytes; refuse anything absurd


def _make_handler(backend: DockerBackend) -> type[BaseHTTPRequestHandler]:
    class PluginHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("docker plugin: " + format, *args)

        def address_string(self) -> str:
            return "dockerd"

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self._reply(413, {error_field(path): f"request body over {MAX_BODY} bytes"})
                return
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                self._reply(400, {error_field(path): "request body is not valid JSON"})
                return
            log.debug("docker plugin call %s %s", path, raw[:2000])
            status, payload = dispatch(backend, path, body)
            self._reply(status, payload)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            self._reply(404, {error_field(path): f"unknown plugin method: GET {path}"})

    return PluginHandler


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            log.debug("docker plugin client went away")
        else:
            log.exception("docker plugin request failed")


class PluginServer:
    """Serves one backend on ``socket_path`` from a background thread until ``close()``."""

    def __init__(self, backend: DockerBackend, socket_path: Path = DEFAULT_SOCKET) -> None:
        self.socket_path = socket_path
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        if socket_path.exists() or socket_path.is_symlink():
            socket_path.unlink()  # a stale socket of a previous run: dockerd would hang on it
        self._server = _UnixServer(str(socket_path), _make_handler(backend))
        os.chmod(socket_path, 0o660)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long close() may wait
            name="docker-plugin",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self.socket_path.exists():
            self.socket_path.unlink()


def write_spec(socket_path: Path, spec_dir: Path = SPEC_DIR, name: str = PLUGIN_NAME) -> Path:
    """Point dockerd at a socket outside /run/docker/plugins: ``<spec_dir>/<name>.spec``."""
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = spec_dir / f"{name}.spec"
    tmp = spec.with_suffix(".spec.tmp")
    tmp.write_text(f"unix://{socket_path}\n")
    tmp.replace(spec)
    return spec


def remove_spec(spec_dir: Path = SPEC_DIR, name: str = PLUGIN_NAME) -> None:
    (spec_dir / f"{name}.spec").unlink(missing_ok=True)
