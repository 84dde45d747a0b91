"""cgroup v2 sock_addr hooks: attach with BPF_F_ALLOW_MULTI, detach exactly ours."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

BPF_F_ALLOW_MULTI = 2

# program name -> bcc BPFAttachType attribute
HOOKS = {
    "hawser_connect4": "CGROUP_INET4_CONNECT",
    "hawser_sendmsg4": "CGROUP_UDP4_SENDMSG",
    "hawser_recvmsg4": "CGROUP_UDP4_RECVMSG",
    "hawser_getpeername4": "CGROUP_INET4_GETPEERNAME",
}


class SockHooks:
    def __init__(self, bpf: Any, cgroup: Path) -> None:
        self._bpf = bpf
        self._cgroup = cgroup
        self._fd = -1
        self._attached: list[tuple[Any, int]] = []

    def attach(self) -> None:
        from bcc import BPF, BPFAttachType

        self._fd = os.open(self._cgroup, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name, at in HOOKS.items():
                attach_type = getattr(BPFAttachType, at)
                fn = self._bpf.load_func(
                    name.encode(), BPF.CGROUP_SOCK_ADDR, attach_type=attach_type
                )
                BPF.attach_func(fn, self._fd, attach_type, BPF_F_ALLOW_MULTI)
                self._attached.append((fn, attach_type))
        except BaseException:
            self.detach()
            raise

    def release(self) -> None:
        """Forget the attachments and close the cgroup fd: the hooks stay attached."""
        self._attached.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def detach(self) -> None:
        from bcc import BPF

        while self._attached:
            fn, attach_type = self._attached.pop()
            # an error means it is already gone with the cgroup: nothing left to undo
            with contextlib.suppress(Exception):
                BPF.detach_func(fn, self._fd, attach_type)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
