"""The daemon dying mid-reply: the CLI prints one line and exits non-zero, no traceback.

Before the fix ``http.client.IncompleteRead`` (and ``RemoteDisconnected`` inside an
``error during connect`` text) reached the user as a Python traceback. A raw unix-socket
server plays the daemon and breaks off each exchange at a different point.
"""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import hawser

Behaviour = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def close_silently(conn: socket.socket) -> None:
    read_request(conn)


def reset(conn: socket.socket) -> None:
    conn.recv(1, socket.MSG_PEEK)  # the request is there, unread: closing now resets


def short_body(status: str) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n".encode()
            + b'{"message": "x'
        )

    return behave


def cut_stream(conn: socket.socket) -> None:
    read_request(conn)
    line = b'{"stream": "stdout", "data": "hello\\n"}\n'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(line), line)
    )


@pytest.fixture
def daemon() -> Iterator[tuple[str, list[Behaviour]]]:
    """A unix socket whose next connections get the queued behaviours."""
    folder = Path(tempfile.mkdtemp(prefix="hawser-cut-"))
    path = folder / "api.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    queue: list[Behaviour] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                if queue:
                    queue.pop(0)(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield str(path), queue
    finally:
        server.close()
        path.unlink(missing_ok=True)
        folder.rmdir()


CASES = [
    (close_silently, ["network", "ls"],
     "Error: the daemon closed the connection before replying "
     "(Remote end closed connection without response)"),
    (reset, ["network", "ls"],
     "Error: the daemon closed the connection before replying (Connection reset by peer)"),
    (short_body("200 OK"), ["network", "ls"],
     "Error: the daemon closed the connection before its reply was complete "
     "(got 14 bytes, 86 more expected)"),
    (short_body("409 Conflict"), ["network", "rm", "n1"],
     "Error: the daemon closed the connection before its reply was complete "
     "(got 14 bytes, 86 more expected)"),
    (cut_stream, ["logs", "c1"],
     "Error: the daemon closed the connection before its reply was complete (got 0 bytes)"),
]  # fmt: skip


@pytest.mark.parametrize(("behave", "args", "line"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_cut_off_reply_is_one_line_and_a_failure(
    daemon: tuple[str, list[Behaviour]], behave: Behaviour, args: list[str], line: str
) -> None:
    path, queue = daemon
    queue.append(behave)
    result = CliRunner().invoke(hawser, ["--socket", path, *args])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    stderr = result.stderr.splitlines()
    assert stderr == [line]
    if behave is cut_stream:
        assert result.stdout == "hello\n"  # what arrived before the cut was printed
