"""Taking a node's datapath off the machine (``hawserd reset``): offline, without bcc.

Everything is found in the kernel, not asked of a daemon (there is none running): tc filters
by Hawser's handle, priority and program name on the links of the node's netns; socket hooks
on the cgroup by the maps they use (pinned in the node's folder, any pin version); the pins
last, since they are how the hooks are recognised.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from . import stale, tc

PARENTS = {"ingress": tc.INGRESS, "egress": tc.EGRESS}


def node_dir(bpffs_root: Path, node: str) -> Path:
    """``<bpffs>/hawser/<node>``: every pin version of the node."""
    return bpffs_root / "hawser" / node


def hooks(cgroup: Path, folder: Path) -> list[dict[str, Any]]:
    """The node's socket hooks on ``cgroup``: programs using a map pinned under ``folder``."""
    return stale.predecessors(cgroup, sorted(folder.glob("v*")))


def programs(ipr: Any) -> dict[int, list[str]]:
    """ifindex → ``ingress:<prog>``/``egress:<prog>`` of Hawser's tc programs on each link."""
    out: dict[int, list[str]] = {}
    for link in ipr.get_links():
        index = int(link["index"])
        for side, parent in PARENTS.items():
            for name in tc.attached(ipr, index, parent):
                if name.startswith(stale.PROGRAM_PREFIX):
                    out.setdefault(index, []).append(f"{side}:{name}")
    return out


def remove_programs(ipr: Any, ifindex: int) -> None:
    """Delete Hawser's filters from both sides of the link, then its clsact qdisc when that
    holds nothing else (Hawser adds clsact when a link has none)."""
    for parent in PARENTS.values():
        tc.detach(ipr, ifindex, parent)
    for parent in PARENTS.values():
        try:
            if ipr.get_filters(index=ifindex, parent=parent):
                return  # someone else's filters: their qdisc stays
        except NetlinkError:
            continue
    try:
        ipr.tc("del", "clsact", ifindex)
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
            raise


def detach_hooks(cgroup: Path, found: list[dict[str, Any]]) -> None:
    for hook in found:
        stale.detach(cgroup, hook)


def remove_pins(folder: Path) -> None:
    """The node's pin folder, and ``hawser/`` when no other node has one."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()
