"""Processes and network namespaces the benchmark owns, and their guaranteed clean-up.

Everything created here is registered; `cleanup()` (called from run.py's finally and signal
handlers) first runs the registered closers (Hawser daemons stop with SIGTERM there, never
SIGKILL), then stops the processes we started, by pid, and deletes our netns ("t-bench-<run>-").
Clients and servers are pinned to separate CPUs (`client()`, `server()`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

PREFIX = "t-bench-"
RUN_ID = secrets.token_hex(3)

_procs: list[subprocess.Popen[bytes]] = []
_netns: list[str] = []
_closers: list[Callable[[], None]] = []

# Load generators on one CPU, their servers on another (the machine has 2 cores).
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = _CPUS[0]
CLIENT_CPU = _CPUS[1] if len(_CPUS) > 1 else _CPUS[0]


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


def sh(
    cmd: Sequence[str], *, timeout: float = 120, check: bool = True, input: str | None = None
) -> str:
    """Run a command, return its stdout; raise BenchError with stderr on failure."""
    try:
        res = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and res.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()[-800:]}")
    return res.stdout


def in_ns(ns: str, *cmd: str) -> list[str]:
    """Argv running `cmd` in netns `ns` (nsenter: network namespace only, keeps /sys/fs/bpf)."""
    return in_netns_path(f"/run/netns/{ns}", *cmd)


def in_netns_path(path: str, *cmd: str) -> list[str]:
    """Argv running `cmd` in the network namespace bound at `path` (a sandbox key)."""
    return ["nsenter", f"--net={path}", "--", *cmd]


def client(*cmd: str) -> list[str]:
    """`cmd` pinned to the clients' CPU."""
    return ["taskset", "-c", str(CLIENT_CPU), *cmd]


def server(*cmd: str) -> list[str]:
    """`cmd` pinned to the servers' CPU."""
    return ["taskset", "-c", str(SERVER_CPU), *cmd]


def on_cleanup(fn: Callable[[], None]) -> Callable[[], None]:
    """Register a closer that cleanup() runs (last registered first) before killing anything."""
    _closers.append(fn)
    return fn


def forget_cleanup(fn: Callable[[], None]) -> None:
    if fn in _closers:
        _closers.remove(fn)


def spawn(
    cmd: Sequence[str],
    *,
    pass_fds: Sequence[int] = (),
    log: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process that cleanup() will stop."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        list(cmd),
        stdout=out,
        stderr=out,
        stdin=subprocess.DEVNULL,
        pass_fds=tuple(pass_fds),
        env=env,
        start_new_session=True,
    )
    _procs.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """SIGTERM then SIGKILL one process we started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in _procs:
        _procs.remove(proc)


def run_json(cmd: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a client that prints one JSON object; return it."""
    out = sh(cmd, timeout=timeout)
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise BenchError(f"no JSON result from {' '.join(cmd)}: {out[-300:]}")


def new_netns(role: str) -> str:
    """Create a netns named t-bench-<run>-<role> with lo up; registered for clean-up."""
    name = f"{PREFIX}{RUN_ID}-{role}"
    sh(["ip", "netns", "add", name])
    _netns.append(name)
    sh(["ip", "-n", name, "link", "set", "lo", "up"])
    return name


def netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_netns(path: str) -> list[int]:
    """Pids whose network namespace is the one bound at `path` (none if it is gone)."""
    target = netns_inode(path)
    if target is None:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and netns_inode(f"/proc/{entry}/ns/net") == target:
            out.append(int(entry))
    return [p for p in out if p != os.getpid()]


def end_pids(pids: Sequence[int], inode: int | None, timeout: float = 5) -> list[int]:
    """SIGTERM pids still in netns `inode`, wait, SIGKILL the rest; return the ones killed."""

    def alive() -> list[int]:
        return [p for p in pids if inode is not None and netns_inode(f"/proc/{p}/ns/net") == inode]

    for pid in alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = alive()
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def del_netns(ns: str) -> None:
    """End what still runs in our netns (SIGTERM, then SIGKILL), then delete it."""
    path = f"/run/netns/{ns}"
    end_pids(pids_in_netns(path), netns_inode(path), timeout=3)
    sh(["ip", "netns", "del", ns], check=False)
    if ns in _netns:
        _netns.remove(ns)


def cleanup() -> None:
    """Run the closers, stop every process, delete every netns this run created (idempotent)."""
    while _closers:
        closer = _closers.pop()
        try:
            closer()
        except Exception as exc:  # noqa: BLE001 - keep cleaning, but say so
            print(f"clean-up step failed: {exc}", flush=True)
    for proc in list(_procs):
        with contextlib.suppress(Exception):  # keep cleaning
            stop(proc, timeout=3)
    for ns in list(_netns):
        del_netns(ns)
    mine = f"{PREFIX}{RUN_ID}-"
    for line in sh(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(mine):
            del_netns(name)


def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout}s waiting for {what}")


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
