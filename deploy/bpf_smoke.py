#!/usr/bin/python3
"""BPF smoke check: compile and load (not attach) a trivial tc program with bcc.

Run with Debian's /usr/bin/python3, the only interpreter that can import bcc. Nothing is
attached to any interface; the program is unloaded when this process exits. Exit 0 on success;
otherwise one precise reason on stderr and exit 1.
"""

from __future__ import annotations

import os
import sys

PROGRAM = r"""
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>

int hawser_smoke(struct __sk_buff *skb)
{
    return TC_ACT_OK;
}
"""


def fail(reason: str) -> int:
    print(f"bpf-smoke: {reason}", file=sys.stderr)
    return 1


def main() -> int:
    if os.geteuid() != 0:
        return fail("must run as root (loading BPF programs needs CAP_BPF and CAP_NET_ADMIN)")
    try:
        from bcc import BPF  # type: ignore[import-not-found]
    except ImportError as exc:
        return fail(
            f"cannot import bcc from {sys.executable} ({exc}); install Debian's python3-bpfcc "
            "and run this with /usr/bin/python3"
        )

    build = f"/lib/modules/{os.uname().release}/build"
    if not os.path.exists(os.path.join(build, "Makefile")):
        return fail(f"kernel headers missing: {build} does not exist (run deploy/setup.sh)")
    if not os.path.ismount("/sys/fs/bpf"):
        return fail("bpffs is not mounted at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)")

    try:
        bpf = BPF(text=PROGRAM)
    except Exception as exc:  # bcc raises bare Exception; clang's diagnostics went to stderr
        return fail(
            f"bcc could not compile a trivial tc program against {build} "
            f"-> {os.path.realpath(build)}: {exc}"
        )
    try:
        bpf.load_func("hawser_smoke", BPF.SCHED_CLS)
    except Exception as exc:
        return fail(
            "the kernel refused to load a trivial tc (BPF_PROG_TYPE_SCHED_CLS) program: "
            f"{exc} (needs CAP_BPF and CAP_NET_ADMIN, a kernel with CONFIG_BPF_SYSCALL and "
            "CONFIG_NET_CLS_BPF, and no lockdown/seccomp policy blocking bpf(2))"
        )
    bpf.cleanup()
    print("bpf-smoke: ok (bcc compiled and the kernel loaded a tc program)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
