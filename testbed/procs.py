"""Processes in a netns, their output, and readiness handshakes.

- ``enter(ns, …)`` is ``nsenter --net``: only the network namespace changes, so /sys/fs/bpf
  and the mount namespace stay (the daemon, bpftool, anything touching BPF needs it).
  ``netns_exec(ns, …)`` is ``ip netns exec``: it also remounts /sys for the netns and binds
  /etc/netns/<ns>/ files, as a container's processes see them.
- ``Proc`` starts a child; with ``lines=True`` a thread reads its stdout and stderr line by
  line (``LineReader``), so waiting with a deadline never misses a line already buffered.
- Readiness is a handshake, never a sleep: a line (``Proc.expect("READY")``), a TCP port
  accepting (``wait_tcp``), an HTTP endpoint answering (``http_get`` in a loop).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from testbed import netns
from testbed.netns import enter, netns_exec
from testbed.wait import NotReady, wait_for

PY = "/usr/bin/python3"  # the system Python: what a container's process runs (no venv)

__all__ = ["PY", "LineReader", "Proc", "enter", "http_get", "netns_exec", "tcp_answers", "wait_tcp"]


class LineReader:
    """A child's output pipe read line by line by a thread. ``until`` consumes lines in order
    from a cursor; ``seen`` is every line read so far."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self.closed = False
        self._cursor = 0
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # the pipe was closed under us
            for line in stream:
                with self._cond:
                    self.seen.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def until(self, match: Callable[[str], bool], timeout: float) -> list[str]:
        """Lines up to and including the first that matches; fewer at EOF or the deadline."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._cursor < len(self.seen):
                    line = self.seen[self._cursor]
                    self._cursor += 1
                    got.append(line)
                    if match(line):
                        return got
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return got
                self._cond.wait(left)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.seen)


class Proc:
    """A child process. Output goes to ``log`` (a file), to two ``LineReader``s (``lines``),
    or nowhere. With ``new_session`` (the default) it leads its own process group, and
    ``stop``/``kill`` signal the whole group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        lines: bool = False,
        log: Path | str | None = None,
        stdin: bool = False,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        preexec_fn: Callable[[], None] | None = None,
        new_session: bool = True,
        cwd: Path | str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.new_session = new_session
        out: Any = subprocess.DEVNULL
        if lines:
            out = subprocess.PIPE
        elif log is not None:
            out = open(log, "ab")  # noqa: SIM115 - the child holds it; closed below
        self.popen: subprocess.Popen[Any] = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=out,
            stderr=out if not lines else subprocess.PIPE,
            text=lines or stdin,
            env=None if env is None else dict(env),
            pass_fds=tuple(pass_fds),
            preexec_fn=preexec_fn,
            start_new_session=new_session,
            cwd=cwd,
        )
        if log is not None and not lines:
            out.close()
        self.out = LineReader(self.popen.stdout) if lines and self.popen.stdout else None
        self.err = LineReader(self.popen.stderr) if lines and self.popen.stderr else None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdin(self) -> IO[Any]:
        assert self.popen.stdin is not None, "started without stdin=True"
        return self.popen.stdin

    def alive(self) -> bool:
        return self.popen.poll() is None

    def expect(self, want: str | Callable[[str], bool], timeout: float = 10) -> str:
        """The first (new) stdout line equal to ``want`` (or matching it); raises NotReady
        with what the process printed, and how it ended, when none comes in time."""
        assert self.out is not None, "started without lines=True"
        match = want if callable(want) else (lambda line: line.strip() == want)
        got = self.out.until(match, timeout)
        if got and match(got[-1]):
            return got[-1]
        ended = "" if self.alive() else f", exited {self.popen.wait()}"
        stderr = self.err.text() if self.err else ""
        raise NotReady(
            f"{' '.join(self.argv)[:200]}: no {want!r} line in {timeout}s{ended}; "
            f"stdout: {' / '.join(got)[-500:]!r}; stderr: {stderr[-800:]!r}"
        )

    def line(self, timeout: float = 10) -> str:
        """The next stdout line (NotReady when none comes in time)."""
        return self.expect(lambda _: True, timeout)

    def send(self, sig: int) -> None:
        """Signal the process (its whole group when it leads one)."""
        with contextlib.suppress(ProcessLookupError):
            if self.new_session:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def kill(self) -> None:
        if self.alive():
            self.send(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 5, sig: int = signal.SIGTERM) -> int:
        """``sig`` (SIGTERM), up to ``timeout`` seconds for the exit, then SIGKILL."""
        if self.alive():
            self.send(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.popen.wait()


# readiness --------------------------------------------------------------------------------
def tcp_answers(ns: str | None, host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether ``host:port`` accepts a TCP connection, dialled from inside netns ``ns``."""

    def dial() -> bool:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True
        except OSError:
            return False

    return netns.call_in(ns, dial) if ns else dial()


def wait_tcp(ns: str | None, host: str, port: int, timeout: float = 20) -> None:
    wait_for(
        lambda: tcp_answers(ns, host, port),
        timeout,
        f"{host}:{port} to accept connections",
        interval=0.05,
    )


def http_get(
    url: str, ns: str | None = None, timeout: float = 5, context: Any = None
) -> tuple[int, bytes]:
    """(status, body) of a GET from inside netns ``ns``; status 0 when nothing answered."""

    handlers: list[Any] = [urllib.request.ProxyHandler({})]  # never a proxy from the env
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)

    def get() -> tuple[int, bytes]:
        try:
            with opener.open(url, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()
        except OSError:
            return 0, b""

    return netns.call_in(ns, get) if ns else get()
