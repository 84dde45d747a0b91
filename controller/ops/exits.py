"""What happens when a container's command exits: the exit is recorded, waiters wake, and
the restart policy (``rules.restart``) either starts it again after its back-off, or leaves
it exited (and removes it with ``--rm``). Restarts are the daemon's: they survive its
restarts through the store (``resume_policies`` at start-up)."""

from __future__ import annotations

import logging
import threading

from controller.errors import HawserError
from controller.kernel.supervisor import is_running
from controller.ops import containers, lifecycle, link_targets
from controller.ops.node import Node
from controller.rules import restart, timestamps
from controller.rules.model import Container
from controller.store.transaction import operation

log = logging.getLogger(__name__)


def on_process_exit(node: Node, ctr_id: str, shim_pid: int, code: int) -> None:
    """The supervisor's report: the shim ``shim_pid`` of ``ctr_id`` ended with ``code``."""
    with node.lock:
        ctr = node.store.container(ctr_id)
        if ctr is None or ctr.status != "running" or (shim_pid and ctr.shim_pid != shim_pid):
            return  # not the run this shim watched (a failed start, a later run)
        record_exit(node, ctr, code)


def record_exit(node: Node, ctr: Container, code: int) -> None:
    """Under the lock: the command of ``ctr`` exited with ``code``."""
    finished = timestamps.now_iso()
    ran = _seconds_between(ctr.started, finished)
    policy = restart.RestartPolicy(ctr.restart_policy, ctr.restart_max)
    again = not ctr.manually_stopped and restart.should_restart(
        policy, code, ctr.manually_stopped, ctr.restart_count
    )
    ctr.exit_code, ctr.finished, ctr.pid, ctr.shim_pid = code, finished, 0, 0
    node.exits[ctr.id] = node.exits[ctr.name] = code
    node.exit_seq[ctr.id] = node.exit_seq.get(ctr.id, 0) + 1
    if again:
        ctr.status = "restarting"
        ctr.restart_count += 1
        delay = restart.next_delay(node.backoff.get(ctr.id, 0.0), ran)
        node.backoff[ctr.id] = delay
        _schedule(node, ctr.id, delay)
    else:
        ctr.status = "exited"
        node.backoff.pop(ctr.id, None)
    with operation(node.store):
        node.store.put_container(ctr)
    if not again and ctr.auto_remove:
        containers.remove(node, ctr.id, force=True)
    node.exited.notify_all()


def _seconds_between(start: str, end: str) -> float:
    try:
        return (timestamps.parse(end) - timestamps.parse(start)).total_seconds()
    except ValueError:
        return 0.0


def _schedule(node: Node, ctr_id: str, delay: float) -> None:
    node.cancel_restart(ctr_id)
    timer = threading.Timer(delay, _restart_now, args=(node, ctr_id))
    timer.daemon = True
    node.restart_timers[ctr_id] = timer
    timer.start()


def _restart_now(node: Node, ctr_id: str) -> None:
    with node.lock:
        timer = node.restart_timers.get(ctr_id)
        if timer is None or timer is not threading.current_thread():
            return  # cancelled (stop, rm, start) or replaced meanwhile
        del node.restart_timers[ctr_id]
        ctr = node.store.container(ctr_id)
        if ctr is None or ctr.status != "restarting":
            return
        start_again(node, ctr)


def start_again(node: Node, ctr: Container) -> None:
    """Under the lock: the policy's restart (a start that keeps the restart count)."""
    if ctr.owns_no_netns_mode:
        joined = node.store.container(ctr.joined_container)
        if joined is None or not is_running(joined):
            _give_up(node, ctr, "cannot join network of a non running container")
            return
    try:
        with operation(node.store) as undo:
            lifecycle.start_process(node, ctr, link_targets.stored(node, ctr), undo)
            node.store.put_container(ctr)
    except HawserError as exc:
        log.warning("restarting container %s failed: %s", ctr.name, exc.message)
        _give_up(node, ctr, exc.message)
        return
    log.info("restarted container %s (restart %d)", ctr.name, ctr.restart_count)


def _give_up(node: Node, ctr: Container, error: str) -> None:
    ctr = node.store.container(ctr.id) or ctr
    ctr.status, ctr.error, ctr.pid, ctr.shim_pid = "exited", error, 0, 0
    with operation(node.store):
        node.store.put_container(ctr)
    node.exited.notify_all()
    if ctr.auto_remove:
        containers.remove(node, ctr.id, force=True)


def resume_policies(node: Node) -> int:
    """At start-up, after the first full sync: start the containers whose policy says so
    (Docker's restore: ``always`` even after a stop, ``unless-stopped`` unless stopped,
    ``on-failure`` after a failure within its count), and those a restart was pending for."""
    started = 0
    with node.lock:
        for ctr in node.store.containers():
            if ctr.status not in ("exited", "restarting") or not ctr.started:
                continue
            policy = restart.RestartPolicy(ctr.restart_policy, ctr.restart_max)
            pending = ctr.status == "restarting"
            wanted = restart.should_restart(
                policy, ctr.exit_code, ctr.manually_stopped, ctr.restart_count
            )
            if not (pending or wanted) or policy.is_none:
                continue
            if not pending:  # a fresh start, as Docker's restore does: count and stop reset
                ctr.restart_count, ctr.manually_stopped = 0, False
            ctr.status = "restarting"
            start_again(node, ctr)
            started += 1
    return started
