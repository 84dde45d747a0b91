"""Interactive streams: Docker's hijacked connection from the client's side.

``upgrade`` sends a request with ``Upgrade: tcp`` on the daemon's unix socket and, once the
daemon answers ``101 UPGRADED``, hands back the raw connection. ``stream`` then copies the
terminal (or pipes) to it and the process's output back: raw bytes with a terminal (the
local one in raw mode, so Ctrl-C, Ctrl-D and the arrow keys reach the process as keys),
else Docker's multiplexed frames split into stdout and stderr. The end of stdin is a
half-close; a window size change (SIGWINCH) is sent with ``on_resize``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty
from collections.abc import Callable
from typing import Any

from cli.client import Client, CliError, DaemonError, _cut_off, path_for

_HEADER = struct.Struct(">BxxxL")


def upgrade(
    client: Client, method: str, path: str, body: Any = None
) -> tuple[socket.socket, bytes]:
    """The hijacked connection of ``method path`` and the bytes already read past the reply's
    headers; a ``DaemonError`` when the daemon refuses."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
        f"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(client.socket_path)
    except OSError as exc:
        sock.close()
        raise client._connect_error(exc) from exc
    try:
        sock.sendall(head.encode() + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise _cut_off(ConnectionError("closed"), replied=bool(data))
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if status in (101, 200):
            return sock, rest
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = int({k.lower(): v for k, v in fields.items()}.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        sock.close()
        try:
            message = str(json.loads(rest).get("message", ""))
        except (ValueError, AttributeError):
            message = rest.decode(errors="replace").strip()
        raise DaemonError(message or f"HTTP {status}", status)
    except (OSError, ValueError, IndexError) as exc:
        sock.close()
        if isinstance(exc, CliError):
            raise
        raise CliError(f"invalid answer to the upgrade request: {exc}") from exc


def terminal_size() -> tuple[int, int] | None:
    """The local terminal's rows and columns (stdout's, else stdin's), if there is one."""
    for fd in (1, 0):
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            return size.lines, size.columns
    return None


def resizer(client: Client, *resource: str) -> Callable[[], None]:
    """A callback sending the local terminal's size to ``RESOURCE/resize`` (a container's or an
    exec's); a refusal is ignored, as Docker's client does."""

    def send() -> None:
        now = terminal_size()
        if now:
            with contextlib.suppress(CliError):
                client.post(path_for(*resource, "resize", query={"h": now[0], "w": now[1]}))

    return send


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Demux:
    """Docker's multiplexed frames → stdout (1) and stderr (2)."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> None:
        self.pending += data
        while len(self.pending) >= _HEADER.size:
            kind, size = _HEADER.unpack_from(self.pending)
            if len(self.pending) < _HEADER.size + size:
                return
            payload = self.pending[_HEADER.size : _HEADER.size + size]
            self.pending = self.pending[_HEADER.size + size :]
            _write_all(2 if kind == 2 else 1, payload)


def stream(
    sock: socket.socket,
    leftover: bytes,
    *,
    tty_mode: bool,
    stdin: bool,
    on_resize: Callable[[], None] | None = None,
) -> None:
    """Copy between the terminal and the process until the process's output ends."""
    sys.stdout.flush()
    demux = None if tty_mode else _Demux()

    def output(data: bytes) -> None:
        if demux is None:
            _write_all(1, data)
        else:
            demux.feed(data)

    raw = stdin and tty_mode and os.isatty(0)
    saved = termios.tcgetattr(0) if raw else None
    previous_winch = None
    if on_resize is not None:
        previous_winch = signal.signal(signal.SIGWINCH, lambda signum, frame: on_resize())
    try:
        if raw:
            tty.setraw(0)
        if leftover:
            output(leftover)
        reading_stdin = stdin
        while True:
            watched: list[Any] = [sock] + ([0] if reading_stdin else [])
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                output(data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    sock.sendall(data)
                else:
                    reading_stdin = False
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
    except (ConnectionResetError, BrokenPipeError):
        return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if on_resize is not None:
            signal.signal(signal.SIGWINCH, previous_winch or signal.SIG_DFL)
        sock.close()
