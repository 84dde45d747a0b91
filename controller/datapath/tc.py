"""tc clsact attachment of the programs (one concern: filters on interfaces).

A filter is always written with the same parent/prio/handle and the
``replace`` command, so a restarted daemon swaps programs atomically and
traffic never sees a moment without one."""

from __future__ import annotations

import errno
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from controller.kernel.errors import refusal

INGRESS = 0xFFFFFFF2  # clsact ingress
EGRESS = 0xFFFFFFF3  # clsact egress
PRIO = 0xC000 >> 8  # well away from prio 1 used by hand-made filters
HANDLE = 0x1A5  # ours


@refusal("attach program {name} to link {ifindex}")
def attach(ipr: Any, ifindex: int, fd: int, name: str, parent: int = INGRESS) -> None:
    try:
        ipr.tc("add", "clsact", ifindex)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    ipr.tc(
        "replace-filter",
        "bpf",
        ifindex,
        HANDLE,
        fd=fd,
        name=name,
        parent=parent,
        classid=1,
        direct_action=True,
        prio=PRIO,
    )


@refusal("detach Hawser's program from link {ifindex}")
def detach(ipr: Any, ifindex: int, parent: int = INGRESS) -> None:
    try:
        ipr.tc("del-filter", "bpf", ifindex, HANDLE, parent=parent, prio=PRIO)
    except NetlinkError as e:
        if e.code not in (errno.ENOENT, errno.ENODEV, errno.EINVAL):  # EINVAL: no clsact
            raise


def attached(ipr: Any, ifindex: int, parent: int = INGRESS) -> list[str]:
    """Names of the BPF programs on ifindex's clsact ingress or egress (tests, inspection)."""
    names = []
    try:
        filters = ipr.get_filters(index=ifindex, parent=parent)
    except NetlinkError:
        return []
    for f in filters:
        opts = f.get_attr("TCA_OPTIONS")
        if opts is not None and opts.get_attr("TCA_BPF_NAME"):
            names.append(opts.get_attr("TCA_BPF_NAME"))
    return names
