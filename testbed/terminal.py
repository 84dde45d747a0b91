"""A program driven through a real pseudo-terminal, as a person at a keyboard drives it.

``Terminal(argv, rows, cols)`` runs ``argv`` as the session leader of a new pty (so it is
its controlling terminal: Ctrl-C and window changes become signals), reads everything it
prints, and waits for text with a deadline (``expect``) instead of sleeping. ``resize``
changes the window as a terminal emulator does (the kernel sends SIGWINCH).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence

CTRL_C = b"\x03"
CTRL_D = b"\x04"


class Terminal:
    def __init__(
        self, argv: Sequence[str], rows: int = 24, cols: int = 80, env: dict[str, str] | None = None
    ) -> None:
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:  # the child: argv on the terminal
            try:
                os.execvpe(argv[0], list(argv), {**os.environ, **(env or {}), "TERM": "xterm"})
            finally:
                os._exit(127)
        self.resize(rows, cols)
        self.output = b""  # everything printed so far
        self._cursor = 0  # where the next expect starts looking
        self.status: int | None = None

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: bytes | str) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at EOF."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program and everything on the terminal ended
            return False
        if not data:
            return False
        self.output += data
        return True

    def expect(self, pattern: str | bytes, timeout: float = 15.0) -> re.Match[bytes]:
        """The first match of ``pattern`` printed after the previous match (AssertionError with
        what was printed when it does not come in time)."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.DOTALL)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.output, self._cursor)
            if found:
                self._cursor = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                found = regex.search(self.output, self._cursor)
                if found:
                    self._cursor = found.end()
                    return found
                raise AssertionError(
                    f"{regex.pattern!r} not printed within {timeout}s; after the last match: "
                    f"{self.output[self._cursor :][-2000:]!r}"
                )

    def wait(self, timeout: float = 15.0) -> int:
        """The program's exit status (128+N for signal N), reading its last output."""
        deadline = time.monotonic() + timeout
        while self._read(min(0.2, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                break
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                if self.status < 0:
                    self.status = 128 - self.status
                break
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"still running after {timeout}s: {self.output[-2000:]!r}")
            self._read(0.05)
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -1
        with contextlib.suppress(OSError):
            os.close(self.fd)
