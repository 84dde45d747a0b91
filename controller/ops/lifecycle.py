"""A container's process: start (detached or attached), signal, exec, and wait for its exit.

The supervisor (``kernel.supervisor``) runs the process and reports its exit;
``containers.on_process_exit`` records it and wakes every ``wait`` (``Node.exited``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from controller.errors import Conflict, InvalidArgument, NotFound
from controller.kernel.supervisor import ProcessSpec, command_line, is_running, run_streaming
from controller.ops import engines, link_targets, lookup
from controller.ops.link_targets import LinkTarget
from controller.ops.node import Node
from controller.rules import netopts
from controller.rules.model import Container
from controller.rules.timestamps import now_iso
from controller.store.transaction import Undo, operation


def process_spec(
    ctr: Container, targets: list[LinkTarget], cmd: list[str] | None = None, env: Sequence[str] = ()
) -> ProcessSpec:
    """How ``cmd`` (the container's own by default) runs in the sandbox: links' variables,
    the container's, then ``env``."""
    return ProcessSpec(
        netns=ctr.netns,
        hostname=ctr.hostname,
        env=link_targets.env(ctr, targets) + ctr.env + list(env),
        cmd=list(ctr.cmd if cmd is None else cmd),
    )


def start_process(node: Node, ctr: Container, targets: list[LinkTarget], undo: Undo) -> None:
    """Mark ``ctr`` running and start its command, if it has one (stored by the caller)."""
    ctr.started = now_iso()
    ctr.status = "running"
    if not ctr.cmd:
        return
    ctr.pid = node.supervisor.start(ctr.id, process_spec(ctr, targets))
    undo.push(node.supervisor.kill, ctr.pid)
    undo.push(node.supervisor.forget, ctr.id)


def _own(ctr: Container) -> Container:
    """Processes of an engine's container are the engine's: Hawser neither runs nor signals
    them (and its netns is not Hawser's to enter)."""
    if ctr.engine_owned:
        raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
    return ctr


def start(node: Node, ref: str, attach: bool) -> Iterator[dict[str, Any]] | None:
    """Start a created container; attached, stream its output until it exits, then its code."""
    with node.lock:
        ctr = _own(lookup.container(node.store, ref))
        if ctr.status != "created":
            raise Conflict(f"container {ctr.name} is already started")
        if attach:
            node.supervisor.hold(ctr.id)  # its output stays until the stream has read it
        try:
            with operation(node.store) as undo:
                start_process(node, ctr, link_targets.stored(node, ctr), undo)
                node.store.put_container(ctr)
        except BaseException:
            node.supervisor.release(ctr.id)
            raise
    return _attached_frames(node, ctr) if attach else None


def _attached_frames(node: Node, ctr: Container) -> Iterator[dict[str, Any]]:
    try:
        for stream, data in node.supervisor.logs(ctr.id, True, lambda: is_running(ctr)):
            yield {"stream": stream, "data": data}
        yield {"exit": node.supervisor.exit_code(ctr.id)}
    finally:
        node.supervisor.release(ctr.id)
        with node.lock:
            if node.store.container(ctr.id) is None:
                node.supervisor.forget(ctr.id)


def kill(node: Node, ref: str, signum: int) -> None:
    with node.lock:
        ctr = _own(lookup.container(node.store, ref))
        if not ctr.cmd or not is_running(ctr):
            raise Conflict(f"Cannot kill container: {ref}: Container {ctr.id} is not running")
        node.supervisor.signal(ctr.pid, signum)


def exec_stream(node: Node, ref: str, cmd: list[str], env: list[str]) -> Iterator[dict[str, Any]]:
    with node.lock:
        ctr = _own(lookup.container(node.store, ref))
        if not is_running(ctr):
            raise Conflict(f"Container {ctr.id} is not running")
        if not cmd:
            raise InvalidArgument("No exec command specified")
        spec = process_spec(ctr, link_targets.stored(node, ctr), cmd, netopts.parse_env(env))
    return run_streaming(command_line(spec))


def wait(node: Node, ref: str) -> int:
    """Block until the container's process has exited (or the container is gone); its code.

    Woken by each recorded exit (``Node.exited``), no polling. An ``--rm`` container that
    already exited and went away answers from ``Node.exits``.
    """
    with node.lock:
        found = lookup.container_or_none(node.store, ref)
        if found is None:
            if ref in node.exits:
                return node.exits[ref]
            raise NotFound(f"No such container: {ref}")
        while True:
            current = node.store.container(found.id)
            if current is None:
                return node.exits.get(found.id, 0)
            if current.status == "exited":
                return current.exit_code
            if not current.cmd:
                return 0
            node.exited.wait()
