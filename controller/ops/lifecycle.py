"""A container's process: start (detached or attached), stop, restart, kill, attach, resize,
and wait for its exit — Docker's lifecycle verbs.

The supervisor (``kernel.supervisor``) runs the process through its shim and reports its
exit; ``exits.on_process_exit`` records it, applies the restart policy and wakes every
``wait`` (``Node.exited``). A stopped container keeps its sandbox, address and published
ports: ``start`` runs its command again in them.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from controller.errors import Conflict, NotFound, StartFailed
from controller.kernel import logfile, netns
from controller.kernel.supervisor import ProcessSpec, is_running
from controller.ops import engines, link_targets, lookup
from controller.ops.link_targets import LinkTarget
from controller.ops.node import Node
from controller.rules.model import Container
from controller.rules.timestamps import now_iso
from controller.store.transaction import Undo, operation

DEFAULT_STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL (Docker's default)
KILL_WAIT = 10.0  # seconds a SIGKILLed command may take to be reported gone
START_FAILED = "unable to start container process: "


def process_spec(
    ctr: Container,
    targets: list[LinkTarget],
    cmd: list[str] | None = None,
    env: Sequence[str] = (),
    **more: Any,
) -> ProcessSpec:
    """How ``cmd`` (the container's own by default) runs in the sandbox: links' variables,
    the container's, then ``env``."""
    return ProcessSpec(
        netns=ctr.netns,
        hostname=ctr.hostname,
        env=link_targets.env(ctr, targets) + ctr.env + list(env),
        cmd=list(ctr.cmd if cmd is None else cmd),
        own_hostname=ctr.network_mode != "host",
        **more,
    )


def running(ctr: Container) -> bool:
    """Docker's ``State.Running``, which a container waiting to be restarted also is."""
    return is_running(ctr) or ctr.status == "restarting"


def start_process(
    node: Node,
    ctr: Container,
    targets: list[LinkTarget],
    undo: Undo,
    hold: bool = False,
    size: tuple[int, int] | None = None,
) -> None:
    """Mark ``ctr`` running and start its command, if it has one (stored by the caller).

    Raises ``StartFailed`` (Docker's ``unable to start container process: exec: …``) when
    the command cannot start; the caller records it (``record_start_failure``).
    """
    ctr.started = now_iso()
    ctr.status = "running"
    ctr.error = ""
    if not ctr.cmd:
        ctr.pid = ctr.shim_pid = 0
        return
    spec = process_spec(ctr, targets, tty=ctr.tty, stdin=ctr.open_stdin, size=size)
    try:
        started = node.supervisor.start(ctr.id, spec, hold=hold)
    except StartFailed as exc:
        raise StartFailed(START_FAILED + exc.message, exc.exit_code) from None
    ctr.pid, ctr.shim_pid = started.pid, started.shim_pid
    undo.push(node.supervisor.kill_all, ctr.id)


def record_start_failure(node: Node, ctr_id: str, exc: StartFailed) -> None:
    """Docker keeps a container whose command could not start, with the status its start
    got (127 not found, 126 not executable) and the error (``State.Error``)."""
    with node.lock:
        ctr = node.store.container(ctr_id)
        if ctr is None:
            return
        ctr.exit_code, ctr.error, ctr.pid, ctr.shim_pid = exc.exit_code, exc.message, 0, 0
        with operation(node.store):
            node.store.put_container(ctr)
        node.exit_seq[ctr_id] = node.exit_seq.get(ctr_id, 0) + 1
        node.exited.notify_all()


def _start_locked(
    node: Node, ctr: Container, hold: bool, size: tuple[int, int] | None
) -> Container:
    node.cancel_restart(ctr.id)
    ctr.manually_stopped = False
    ctr.restart_count = 0  # a user's start resets the restart manager (Docker)
    node.backoff.pop(ctr.id, None)
    try:
        with operation(node.store) as undo:
            start_process(node, ctr, link_targets.stored(node, ctr), undo, hold, size)
            node.store.put_container(ctr)
    except StartFailed as exc:
        record_start_failure(node, ctr.id, exc)
        if ctr.auto_remove:
            from controller.ops import containers  # containers imports this module

            containers.remove(node, ctr.id, force=True)
        raise
    return ctr


def own(ctr: Container) -> Container:
    """Processes of an engine's container are the engine's: Hawser neither runs nor signals
    them (and its netns is not Hawser's to enter)."""
    if ctr.engine_owned:
        raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
    return ctr


def start(node: Node, ref: str, attach: bool) -> Iterator[dict[str, Any]] | None:
    """Start a created or stopped container (a running one is left as it is); attached,
    stream its output until it exits, then its code."""
    with node.lock:
        ctr = own(lookup.container(node.store, ref))
        if running(ctr) and not attach:
            return None
        offset = node.supervisor.log_size(ctr.id)
        if attach:
            node.supervisor.hold(ctr.id)  # its output stays until the stream has read it
        try:
            if not running(ctr):
                _check_joined_sandbox(node, ctr)
                ctr = _start_locked(node, ctr, hold=False, size=None)
        except BaseException:
            node.supervisor.release(ctr.id)
            raise
    return _attached_frames(node, ctr, offset) if attach else None


def _check_joined_sandbox(node: Node, ctr: Container) -> None:
    """A container: container can only start while the one whose sandbox it joins runs."""
    if not ctr.owns_no_netns_mode:
        return
    joined = node.store.container(ctr.joined_container)
    if joined is None or not is_running(joined):
        raise Conflict(f"cannot join network of a non running container: {ctr.joined_container}")


def _attached_frames(node: Node, ctr: Container, offset: int) -> Iterator[dict[str, Any]]:
    seq = node.exit_seq.get(ctr.id, 0)

    def alive() -> bool:
        with node.lock:
            return node.exit_seq.get(ctr.id, 0) == seq and node.store.container(ctr.id) is not None

    try:
        query = logfile.LogQuery(follow=True, offset=offset)
        for frame in node.supervisor.logs(ctr.id, query, alive):
            yield {"stream": frame["stream"], "data": frame["data"]}
        yield {"exit": node.supervisor.exit_code(ctr.id)}
    finally:
        node.supervisor.release(ctr.id)
        with node.lock:
            if node.store.container(ctr.id) is None:
                node.supervisor.forget(ctr.id)


def attach(
    node: Node, ref: str, stdin: bool, start_it: bool, size: tuple[int, int] | None
) -> tuple[Container, socket.socket]:
    """A connection to the running command's stdio (``start_it``: start it first, holding
    its output for this connection)."""
    with node.lock:
        ctr = own(lookup.container(node.store, ref))
        if not running(ctr):
            if not start_it:
                raise Conflict("You cannot attach to a stopped container, start it first")
            _check_joined_sandbox(node, ctr)
            ctr = _start_locked(node, ctr, hold=True, size=size)
        if not ctr.cmd or ctr.status != "running":
            raise Conflict(f"container {ctr.id} has no process to attach to")
        return ctr, node.supervisor.attach(ctr.id, stdin and ctr.open_stdin)


def resize(node: Node, ref: str, rows: int, cols: int) -> None:
    with node.lock:
        ctr = own(lookup.container(node.store, ref))
        if not is_running(ctr) or not ctr.cmd:
            raise Conflict(f"Container {ctr.id} is not running")
        if ctr.tty:
            node.supervisor.resize(ctr.id, rows, cols)


def kill(node: Node, ref: str, signum: int) -> None:
    with node.lock:
        ctr = own(lookup.container(node.store, ref))
        if not ctr.cmd or not is_running(ctr):
            raise Conflict(f"Cannot kill container: {ref}: Container {ctr.id} is not running")
        node.supervisor.signal(ctr.pid, signum)


def _wait_exit_recorded(node: Node, ctr_id: str, seq: int, timeout: float | None) -> bool:
    """Under the lock: until the exit after ``seq`` is recorded (or the container is gone)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        current = node.store.container(ctr_id)
        if current is None or node.exit_seq.get(ctr_id, 0) != seq:
            return True
        if current.status != "running" or not current.cmd:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        node.exited.wait(left)


def stop(node: Node, ref: str, timeout: int | None = None, signum: int = signal.SIGTERM) -> None:
    """Docker's stop: ``signum`` to the command, SIGKILL to every process of the container
    after ``timeout`` seconds (-1: wait for ever), then any process left in its sandbox.

    A stopped container is left as it is; a pending restart is cancelled, and the restart
    policy does not bring it back (``unless-stopped`` not even after a daemon restart).
    """
    grace = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
    with node.lock:
        ctr = own(lookup.container(node.store, ref))
        pending = node.cancel_restart(ctr.id)
        if running(ctr) or not ctr.manually_stopped:
            ctr.manually_stopped = True
            if pending or ctr.status == "restarting":
                ctr.status, ctr.finished = "exited", ctr.finished or now_iso()
            elif ctr.status == "running" and not ctr.cmd:
                ctr.status, ctr.finished, ctr.exit_code = "exited", now_iso(), 0
            with operation(node.store):
                node.store.put_container(ctr)
            node.exit_seq[ctr.id] = node.exit_seq.get(ctr.id, 0) + (ctr.status == "exited")
            node.exited.notify_all()
        if not is_running(ctr):
            return
        seq = node.exit_seq.get(ctr.id, 0)
        node.supervisor.signal(ctr.pid, signum)
        if grace < 0:
            _wait_exit_recorded(node, ctr.id, seq, None)
        elif not _wait_exit_recorded(node, ctr.id, seq, grace):
            node.supervisor.kill_all(ctr.id)
            _wait_exit_recorded(node, ctr.id, seq, KILL_WAIT)
        end_sandbox_processes(node, ctr)


def end_sandbox_processes(node: Node, ctr: Container) -> None:
    """Nothing outlives its container: SIGKILL what is left of its cgroup (its execs) and,
    in a sandbox of its own, every process not of another container sharing it."""
    node.supervisor.kill_all(ctr.id)
    if not ctr.netns or ctr.owns_no_netns_mode:
        return
    others: set[int] = set()
    for other in node.store.containers():
        if other.id != ctr.id and other.netns == ctr.netns:
            others.update(node.supervisor.cgroups.pids(other.id))
    for pid in netns.pids_in([ctr.netns]).get(ctr.netns, []):
        if pid not in others:
            node.supervisor.signal(pid, signal.SIGKILL)


def restart(node: Node, ref: str, timeout: int | None = None) -> None:
    """Stop (if it runs), then start again."""
    stop(node, ref, timeout)
    with node.lock:
        ctr = lookup.container(node.store, ref)
        _check_joined_sandbox(node, ctr)
        _start_locked(node, ctr, hold=False, size=None)


def wait(node: Node, ref: str, condition: str = "not-running") -> int:
    """Block until the container stops (``not-running``: at once if it does not run; or
    ``next-exit``), or is removed (``removed``); its exit code.

    Woken by each recorded exit (``Node.exited``), no polling. An ``--rm`` container that
    already exited and went away answers from ``Node.exits``.
    """
    with node.lock:
        found = lookup.container_or_none(node.store, ref)
        if found is None:
            if ref in node.exits:
                return node.exits[ref]
            raise NotFound(f"No such container: {ref}")
        seq = node.exit_seq.get(found.id, 0)
        # the stored status, not the pid: a command that just died is running until its
        # exit (and code) is recorded
        if condition == "not-running" and found.status not in ("running", "restarting"):
            return found.exit_code
        while True:
            current = node.store.container(found.id)
            if current is None:
                return node.exits.get(found.id, 0)
            if condition != "removed" and node.exit_seq.get(found.id, 0) != seq:
                return current.exit_code
            node.exited.wait()
