"""Start-up checks: fail fast with one precise message per missing prerequisite."""

from __future__ import annotations

import os
from pathlib import Path

from controller.errors import PrerequisiteMissing

from .types import DatapathConfig


def _mounts() -> list[tuple[str, str]]:
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                out.append((parts[1], parts[2]))
    return out


def check(config: DatapathConfig) -> None:
    if os.geteuid() != 0:
        raise PrerequisiteMissing(
            "the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)"
        )
    headers = Path("/lib/modules") / os.uname().release / "build"
    if not headers.exists():
        raise PrerequisiteMissing(
            f"kernel headers not found at {headers}: install linux-headers-{os.uname().release}"
        )
    mounts = _mounts()
    root = str(config.bpffs_root.resolve())
    if not any(mp == root and fs == "bpf" for mp, fs in mounts):
        raise PrerequisiteMissing(f"bpffs is not mounted at {root}: mount -t bpf bpf {root}")
    cg = config.cgroup_path
    if not (cg / "cgroup.controllers").exists() and not any(
        fs == "cgroup2" and str(cg.resolve()).startswith(mp) for mp, fs in mounts
    ):
        raise PrerequisiteMissing(f"cgroup v2 is not mounted at {cg}")
    try:
        import bcc  # noqa: F401
    except ImportError as e:
        raise PrerequisiteMissing(
            f"bcc is not importable ({e}): install python3-bpfcc and use the system python3"
        ) from e
