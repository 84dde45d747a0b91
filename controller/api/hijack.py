"""Hijacked connections (Docker's attach and exec start): after ``101 UPGRADED`` the HTTP
connection carries the process's stdio both ways.

Towards the client: raw bytes when the process has a terminal, else Docker's multiplexed
frames (an 8-byte header: stream 1 or 2, three zero bytes, the big-endian length). From the
client: raw input; its half-close is the end of the input. The relays here copy between
that connection and the process: the shim's ``ctl.sock`` (attach), or an exec process's
terminal or pipes.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from controller.kernel.supervisor import ExecProcess

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
_CHUNK = 65536
EXITED_DRAIN_SECONDS = 1.0


@dataclass
class Hijack:
    """A handler's answer that takes the connection over once the upgrade is sent."""

    run: Callable[[socket.socket, BinaryIO], None]
    media_type: str = RAW_STREAM


def _input_from(rfile: BinaryIO) -> bytes:
    """Input already buffered by the HTTP reader, then straight from the socket."""
    read1 = getattr(rfile, "read1", None)
    try:
        return read1(_CHUNK) if read1 else rfile.read(1)
    except (OSError, ValueError):
        return b""


def relay_socket(client: socket.socket, rfile: BinaryIO, upstream: socket.socket) -> None:
    """Copy both ways between the client and the shim until the shim closes (the process
    ended); the client's half-close is passed on as a half-close."""

    def inbound() -> None:
        while data := _input_from(rfile):
            try:
                upstream.sendall(data)
            except OSError:
                return
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    threading.Thread(target=inbound, daemon=True, name="hawser-attach-in").start()
    try:
        while data := upstream.recv(_CHUNK):
            client.sendall(data)
    except OSError:
        pass
    finally:
        upstream.close()
        end(client)


def end(client: socket.socket) -> None:
    """EOF to the client, and to the thread reading its input (which holds the HTTP reader's
    lock: the server could not close it otherwise)."""
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)


def relay_exec(client: socket.socket, rfile: BinaryIO, proc: ExecProcess, tty: bool) -> None:
    """Copy between the client and an exec process until its output ends."""
    stdin = proc.stdin

    def inbound() -> None:
        while data := _input_from(rfile):
            if stdin < 0:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(stdin, view) :]
            except OSError:
                return
        if stdin >= 0 and not tty:
            with contextlib.suppress(OSError):
                os.close(stdin)  # the end of the client's input is the process's EOF

    if stdin >= 0:
        threading.Thread(target=inbound, daemon=True, name="hawser-exec-in").start()
    open_fds = set(proc.streams)
    pidfd = os.pidfd_open(proc.popen.pid)
    deadline: float | None = None  # once the process has exited: what its children still say
    try:
        while open_fds:
            watched = [*open_fds, pidfd] if deadline is None else list(open_fds)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watched, [], [], left)
            if deadline is not None and not ready:
                break
            for fd in ready:
                if fd == pidfd:
                    deadline = time.monotonic() + EXITED_DRAIN_SECONDS
                    continue
                try:
                    data = os.read(fd, _CHUNK)
                except OSError:  # EIO: the terminal's last holder is gone
                    data = b""
                if not data:
                    open_fds.discard(fd)
                    continue
                if not tty:
                    kind = 1 if proc.streams[fd] == "stdout" else 2
                    data = struct.pack(">BxxxL", kind, len(data)) + data
                client.sendall(data)
    except OSError:  # the client went away: the process loses its terminal or pipes
        pass
    finally:
        os.close(pidfd)
