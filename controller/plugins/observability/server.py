"""The Prometheus HTTP listener: ``--metrics-address HOST:PORT`` ("" = off, port 0 = ephemeral)."""

from __future__ import annotations

import errno
import ipaddress
import socket
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from controller.errors import HawserError, InvalidArgument

DEFAULT_ADDRESS = "127.0.0.1:9323"


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` or ``[V6]:PORT`` → (host, port); "" → None (metrics off)."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(
            f"invalid metrics address {text!r}: use HOST:PORT, e.g. {DEFAULT_ADDRESS}"
        )
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgument(
            f"invalid metrics address {text!r}: {host!r} is not an IP address"
        ) from None
    return host, int(port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """``/metrics`` of one registry on a background thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        server_class: type[_Server] = _Server
        if ":" in host:

            class _Server6(_Server):
                address_family = socket.AF_INET6

            server_class = _Server6
        try:
            self.httpd = make_server(
                host, port, make_wsgi_app(registry), server_class, handler_class=_Quiet
            )
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise HawserError(
                f"cannot listen for metrics on {format_address(host, port)}: {why}"
            ) from None
        bound_host, bound_port = self.httpd.server_address[:2]
        self.address = format_address(str(bound_host), int(bound_port))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name="hawser-metrics",
        )  # fmt: skip
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
