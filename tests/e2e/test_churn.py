"""2,000 create/remove cycles leave the daemon as they found it: no fd, thread, map entry,
netns, link or folder more, and a flat RSS (issue 11.4: one netlink socket leaked per
create and per remove)."""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed.hawser import HawserNode
from tests.e2e import census

CYCLES = 2000
WARM_UP = 100


def _fds(pid: int) -> collections.Counter[str]:
    """Open fds by kind (socket, anon_inode:…, pipe, file)."""
    kinds: collections.Counter[str] = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if not target.startswith("/") else "file"
        kinds[kind if kind != "anon_inode" else target] += 1
    return kinds


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _maps(node: HawserNode) -> dict[str, int]:
    status, rows = node.api("GET", "/v1/bpf/maps")
    assert status == 200, rows
    return {r["name"]: int(r["entries"]) for r in rows if "array" not in r["type"]}


def _kernel(node: HawserNode) -> dict[str, Any]:
    folders = node.state_dir / "containers"
    return {
        "netns": node.hawser_netns(),
        "links": sorted(node.hawser_links()),
        "etc_netns": node.sandbox_folders(),
        "output_folders": sorted(p.name for p in folders.iterdir()) if folders.exists() else [],
    }


def _settled(read: Callable[[], Any], want: Any = None, timeout: float = 10) -> Any:
    """``read()`` once it equals ``want`` or, without ``want``, once it stays the same for
    five reads in a row: an API handler thread closes its socket and ends just after
    answering, so a count read right after a request may still include them."""
    deadline = time.monotonic() + timeout
    seen = [read()]
    while time.monotonic() < deadline:
        if want is not None and seen[-1] == want:
            break
        if want is None and len(seen) >= 5 and all(v == seen[-1] for v in seen[-5:]):
            break
        time.sleep(0.05)
        seen.append(read())
    return seen[-1]


def _cycle(node: HawserNode, i: int) -> None:
    status, reply = node.api("POST", "/v1/containers", {
        "Name": f"churn{i}", "Publish": ["8080:80"], "Cmd": ["sleep", "600"],
    })  # fmt: skip
    assert status == 201, reply
    status, reply = node.api("DELETE", f"/v1/containers/churn{i}?force=1")
    assert status == 204, reply


def test_two_thousand_cycles_leak_nothing(node: HawserNode) -> None:
    assert node.proc is not None
    pid = node.proc.pid  # nsenter execs the daemon: this is its pid
    maps_before, kernel_before = _maps(node), _kernel(node)
    for i in range(WARM_UP):
        _cycle(node, i)
    fds_warm = _settled(lambda: _fds(pid))
    threads_warm = _settled(lambda: _threads(pid))
    rss_warm = _rss_kib(pid)

    started = time.monotonic()
    for i in range(WARM_UP, WARM_UP + CYCLES):
        _cycle(node, i)
    took = time.monotonic() - started
    print(f"{CYCLES} create/remove cycles (-p, one process each) in {took:.1f} s")

    assert _settled(lambda: _fds(pid), fds_warm) == fds_warm
    assert _settled(lambda: _threads(pid), threads_warm) == threads_warm
    assert _maps(node) == maps_before
    assert _kernel(node) == kernel_before
    rss = _rss_kib(pid)
    print(f"RSS after warm-up {rss_warm} KiB, after {CYCLES} more cycles {rss} KiB")
    assert abs(rss - rss_warm) <= rss_warm // 10
    census.check(node)
