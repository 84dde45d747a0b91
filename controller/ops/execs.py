"""``exec``: a process started in a running container's sandbox and cgroup, Docker's way —
created (an id), started (streamed over a hijacked connection, or detached), resized,
inspected for its exit code. An exec process is not a shim's: it lives as long as its
client's stream (or, detached, on its own), and it dies with its container (its cgroup).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.errors import Conflict, InvalidArgument, NotFound, StartFailed
from controller.kernel.supervisor import ExecProcess, exit_status, is_running, run_streaming
from controller.kernel.supervisor import set_winsize as _set_winsize
from controller.ops import lifecycle, link_targets, lookup
from controller.ops.node import Node
from controller.rules import names, netopts

#: Finished execs stay inspectable this long (Docker keeps them until their container goes).
KEEP_FINISHED_SECONDS = 600.0


@dataclass
class ExecSession:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    tty: bool = False
    stdin: bool = False
    cwd: str = ""
    user: str = ""
    size: tuple[int, int] | None = None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    finished_at: float = 0.0
    process: ExecProcess | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict[str, Any]:
        """Docker's exec inspect document."""
        return {
            "ID": self.id,
            "ContainerID": self.container_id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "Pid": self.pid,
            "OpenStdin": self.stdin,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd[0] if self.cmd else "",
                "arguments": self.cmd[1:],
                "user": self.user,
                "privileged": False,
            },
        }


def _prune(node: Node) -> None:
    now = time.monotonic()
    for exec_id, session in list(node.execs.items()):
        gone = node.store.container(session.container_id) is None
        if gone or (session.finished_at and now - session.finished_at > KEEP_FINISHED_SECONDS):
            del node.execs[exec_id]


def create(
    node: Node,
    ref: str,
    cmd: list[str],
    env: list[str],
    *,
    tty: bool = False,
    stdin: bool = False,
    cwd: str = "",
    user: str = "",
    size: tuple[int, int] | None = None,
) -> ExecSession:
    with node.lock:
        ctr = lifecycle.own(lookup.container(node.store, ref))
        if not is_running(ctr):
            raise Conflict(f"Container {ctr.id} is not running")
        if not cmd:
            raise InvalidArgument("No exec command specified")
        if cwd and not cwd.startswith("/"):
            raise InvalidArgument(
                f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
            )
        _prune(node)
        session = ExecSession(
            id=names.new_id(),
            container_id=ctr.id,
            cmd=list(cmd),
            env=netopts.parse_env(env),
            tty=tty,
            stdin=stdin,
            cwd=cwd,
            user=user,
            size=size,
        )
        node.execs[session.id] = session
        return session


def get(node: Node, exec_id: str) -> ExecSession:
    session = node.execs.get(exec_id)
    if session is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return session


def start(
    node: Node, exec_id: str, detach: bool = False, size: tuple[int, int] | None = None
) -> ExecSession:
    """Start the process; ``StartFailed`` (recorded as its exit code) when it cannot."""
    session = get(node, exec_id)
    with session.lock:
        if session.exit_code is not None:
            raise Conflict(f"exec command {session.id} has already run")
        if session.running:
            raise Conflict(f"exec command {session.id} is already running")
        session.running = True
    with node.lock:
        ctr = node.store.container(session.container_id)
        if ctr is None or not is_running(ctr):
            session.running = False
            raise Conflict(f"Container {session.container_id} is not running")
        spec = lifecycle.process_spec(
            ctr,
            link_targets.stored(node, ctr),
            session.cmd,
            session.env,
            tty=session.tty,
            stdin=session.stdin and not detach,
            size=size or session.size,
            cwd=session.cwd,
            user=session.user,
        )
    try:
        proc = node.supervisor.exec_process(ctr.id, spec, detach=detach)
    except StartFailed as exc:
        finish(session, exc.exit_code)
        raise StartFailed(lifecycle.START_FAILED + exc.message, exc.exit_code) from None
    session.process, session.pid = proc, proc.popen.pid
    if detach:
        threading.Thread(target=_reap, args=(session,), daemon=True).start()
    return session


def _reap(session: ExecSession) -> None:
    assert session.process is not None
    finish(session, exit_status(session.process.popen.wait()))


def finish(session: ExecSession, code: int) -> None:
    with session.lock:
        session.running, session.exit_code = False, code
        session.pid = 0
        session.finished_at = time.monotonic()


def wait_exit(session: ExecSession) -> int:
    """After its stream ended: the process's status, recorded before the client learns it."""
    assert session.process is not None
    code = exit_status(session.process.popen.wait())
    finish(session, code)
    return code


def resize(node: Node, exec_id: str, rows: int, cols: int) -> None:
    session = get(node, exec_id)
    proc = session.process
    if proc is None or not session.running:
        raise Conflict(f"exec {exec_id} is not running")
    if proc.master >= 0:
        with contextlib.suppress(OSError):
            _set_winsize(proc.master, (rows, cols))


def close_fds(session: ExecSession) -> None:
    proc = session.process
    if proc is None:
        return
    for fd in {*proc.streams, proc.stdin} - {-1}:
        with contextlib.suppress(OSError):
            os.close(fd)


def stream(node: Node, ref: str, body: dict[str, Any]) -> Iterator[dict[str, Any]] | ExecSession:
    """The NDJSON form of exec (no input): ``{"stream","data"}`` frames, then ``{"exit"}``;
    detached, the started session."""
    session = create(
        node,
        ref,
        [str(c) for c in body.get("Cmd") or []],
        [str(e) for e in body.get("Env") or []],
        cwd=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
    )
    detach = bool(body.get("Detach"))
    try:
        started = start(node, session.id, detach=detach)
    except StartFailed as exc:
        if detach:
            raise
        failure = exc  # said in the stream, as Docker does, with the status it got

        def failed() -> Iterator[dict[str, Any]]:
            yield {"stream": "stderr", "data": failure.message + "\n"}
            yield {"exit": failure.exit_code}

        return failed()
    if detach:
        return started
    assert started.process is not None

    def frames() -> Iterator[dict[str, Any]]:
        for frame in run_streaming(started.process):  # type: ignore[arg-type]
            if "exit" in frame:
                finish(started, int(frame["exit"]))  # type: ignore[call-overload]
            yield frame

    return frames()
