"""What the benchmark starts and makes, and its guaranteed clean-up, on the testbed's blocks.

Everything is registered in one ``Scope`` (prefix ``t-bench-<run>``): topologies (their netns),
Hawser daemons (stopped with SIGTERM there, never SIGKILL first) and the processes we spawn.
``cleanup()`` (called from run.py's finally and signal handlers) closes it, last made first,
then deletes any netns of this run that is still there. Clients and servers are pinned to
separate CPUs (``client()``, ``server()``).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from testbed import netns
from testbed.procs import Proc
from testbed.scope import Scope
from testbed.shell import StepFailed
from testbed.shell import sh as run

PREFIX = "t-bench-"
RUN_ID = secrets.token_hex(3)
SCOPE = Scope(prefix=f"{PREFIX}{RUN_ID}")
GRACE = 3.0  # seconds a process in a netns being deleted gets between SIGTERM and SIGKILL

# Load generators on one CPU, their servers on another (the machine has 2 cores).
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = _CPUS[0]
CLIENT_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]

BenchError = StepFailed  # a benchmark step failed; the message says which and why


def sh(
    cmd: Sequence[str], *, timeout: float = 120, check: bool = True, input: str | None = None
) -> str:
    """Run a command, return its stdout; raise BenchError with stderr on failure."""
    return run(*cmd, timeout=timeout, check=check, input=input).stdout


def client(*cmd: str) -> list[str]:
    """`cmd` pinned to the clients' CPU."""
    return ["taskset", "-c", str(CLIENT_CPU), *cmd]


def server(*cmd: str) -> list[str]:
    """`cmd` pinned to the servers' CPU."""
    return ["taskset", "-c", str(SERVER_CPU), *cmd]


def scope(role: str) -> Scope:
    """A scope for one topology (netns ``t-bench-<run>-<role>-…``), closed by cleanup() unless
    released earlier with ``release``."""
    child = Scope(prefix=SCOPE.name(role))
    SCOPE.on_close(child.close, key=child)
    return child


def release(child: Scope) -> None:
    SCOPE.close_now(child)


def on_cleanup(fn: Callable[[], object]) -> Callable[[], object]:
    """Register a closer that cleanup() runs (last registered first)."""
    SCOPE.on_close(fn, key=fn)
    return fn


def forget_cleanup(fn: Callable[[], object]) -> None:
    SCOPE.forget(fn)


def track(proc: Proc) -> Proc:
    """Have cleanup() stop ``proc`` (SIGTERM, then SIGKILL)."""
    SCOPE.on_close(lambda: proc.stop(GRACE), key=proc)
    return proc


def spawn(
    cmd: Sequence[str],
    *,
    pass_fds: Sequence[int] = (),
    log: str | None = None,
    env: dict[str, str] | None = None,
) -> Proc:
    """Start a long-running process that cleanup() will stop."""
    return track(Proc(cmd, log=log, env=env, pass_fds=pass_fds))


def stop(proc: Proc, timeout: float = 5) -> None:
    """SIGTERM then SIGKILL one process we started."""
    SCOPE.forget(proc)
    proc.stop(timeout)


def run_json(cmd: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a client that prints one JSON object; return it."""
    out = sh(cmd, timeout=timeout)
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise BenchError(f"no JSON result from {' '.join(cmd)}: {out[-300:]}")


def cleanup() -> None:
    """Stop and delete everything this run made (idempotent)."""
    for problem in SCOPE.close():
        print(f"clean-up step failed: {problem}", flush=True)
    for name in netns.names():
        if name.startswith(f"{SCOPE.prefix}-"):
            netns.delete(name, GRACE)


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """All live descendants of pid (via /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size in KiB (shared pages split between sharers; 0 if gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return 0
    return 0
