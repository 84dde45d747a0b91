"""The plugin's only link to Hawser: one HTTP/1.1 request on the daemon's API socket.

Contract with the daemon (``service`` serves it in the API; this is the client side):

``POST /cni/v1/add``, ``/cni/v1/del``, ``/cni/v1/check`` with the JSON body built by
:func:`request_body`. The daemon finds the caller's pid with ``SO_PEERCRED`` and opens
``netns`` through ``/proc/<pid>/root`` (the runtime's netns file may exist only in its own
mount namespace), makes or removes the endpoint, and answers

- ``add``: 200 and a CNI 1.0.0 result without ``cniVersion`` (``interfaces`` with ``mac``,
  ``ips``, ``routes``, ``dns``);
- ``del``: 200 ``{}``, also when nothing is left to delete or ``netns`` is "";
- ``check``: 200 ``{}`` when the endpoint matches, else an error;
- an error: non-2xx and ``{"message": "<one line>", "cniCode": <int, optional>}``.

Raw sockets rather than http.client: importing http.client costs more than the whole call.
"""

from __future__ import annotations

import json
import socket

from controller.plugins.cni.spec import (
    HAWSER_REFUSED,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    UNKNOWN_CONTAINER,
    CniError,
    Invocation,
)

DEFAULT_SOCKET = "/run/hawser/hawser.sock"
TIMEOUT_SECONDS = 60.0
PATHS = {"ADD": "/cni/v1/add", "DEL": "/cni/v1/del", "CHECK": "/cni/v1/check"}
_CODES = {400: INVALID_CONFIG, 404: UNKNOWN_CONTAINER, 503: TRY_AGAIN_LATER}


def request_body(inv: Invocation, port_mappings: list[dict[str, object]]) -> dict[str, object]:
    return {
        "cniVersion": inv.version,
        "network": inv.network,
        "containerId": inv.container_id,
        "ifName": inv.ifname,
        "netns": inv.netns,
        "args": inv.args,
        "portMappings": port_mappings,
        "prevResult": inv.config.get("prevResult"),
        "config": inv.config,
    }


def call(socket_path: str, path: str, body: dict[str, object]) -> dict[str, object]:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: hawser\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_SECONDS)
            sock.connect(socket_path)
            sock.sendall(head + data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise CniError(
            TRY_AGAIN_LATER, f"hawser daemon not reachable at {socket_path}: {exc.strerror}"
        ) from None
    except OSError as exc:
        raise CniError(IO_FAILURE, f"talking to hawser at {socket_path}: {exc}") from None
    return _parse(b"".join(chunks))


def _parse(raw: bytes) -> dict[str, object]:
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise CniError(IO_FAILURE, f"hawser answered something that is not HTTP: {status_line!r}")
    status = int(parts[1])
    try:
        reply = json.loads(payload) if payload.strip() else {}
    except ValueError:
        raise CniError(
            IO_FAILURE, f"hawser answered {status} with a body that is not JSON"
        ) from None
    if not isinstance(reply, dict):
        raise CniError(IO_FAILURE, f"hawser answered {status} with a JSON {type(reply).__name__}")
    if 200 <= status < 300:
        return reply
    code = reply.get("cniCode")
    if not isinstance(code, int):
        code = _CODES.get(status, HAWSER_REFUSED)
    raise CniError(code, str(reply.get("message") or f"hawser answered HTTP {status}"))
