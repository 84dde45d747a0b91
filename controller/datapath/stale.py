"""Socket hooks left on a cgroup by a daemon that stopped (it keeps them attached on purpose)
or was killed (kill -9 cannot detach).

A cgroup attachment keeps its program alive after the loading process dies. A restarted
daemon recognises its predecessor's programs by the maps they use: the ones pinned in its
own pin directory. Programs whose maps are pinned nowhere belong to no live node at all
(orphans, e.g. a killed test daemon whose pins were swept) and can be removed by a sweep.
Uses bpftool's JSON output.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

PROGRAM_PREFIX = "hawser_"
BPFTOOL = "bpftool"


def _bpftool(*args: str) -> Any:
    out = subprocess.run(
        [BPFTOOL, "-j", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout
    return json.loads(out) if out.strip() else []


def pinned_map_ids(pin_dir: Path) -> set[int]:
    ids: set[int] = set()
    if not pin_dir.is_dir():
        return ids
    for pin in pin_dir.iterdir():
        try:
            ids.add(int(_bpftool("map", "show", "pinned", str(pin))["id"]))
        except (subprocess.CalledProcessError, KeyError, TypeError, ValueError):
            continue
    return ids


def hawser_hooks(cgroup: Path) -> list[dict[str, Any]]:
    """Hawser programs attached to ``cgroup``, each with the ids of the maps it uses."""
    hooks = []
    for entry in _bpftool("cgroup", "show", str(cgroup)):
        if not str(entry.get("name", "")).startswith(PROGRAM_PREFIX):
            continue
        try:
            prog = _bpftool("prog", "show", "id", str(entry["id"]))
        except subprocess.CalledProcessError:
            continue
        hooks.append({**entry, "map_ids": set(prog.get("map_ids", []))})
    return hooks


def detach(cgroup: Path, hook: dict[str, Any]) -> None:
    subprocess.run(
        [BPFTOOL, "cgroup", "detach", str(cgroup), hook["attach_type"], "id", str(hook["id"])],
        check=False,
        capture_output=True,
        timeout=10,
    )


def predecessors(cgroup: Path, pin_dirs: list[Path]) -> list[dict[str, Any]]:
    """Hooks attached now that use maps pinned in these folders (a node's pin versions):
    call before attaching anew."""
    ours: set[int] = set()
    for pin_dir in pin_dirs:
        ours |= pinned_map_ids(pin_dir)
    if not ours:
        return []
    return [hook for hook in hawser_hooks(cgroup) if hook["map_ids"] & ours]


def detach_orphans(cgroup: Path, bpffs_root: Path) -> int:
    """Detach Hawser hooks whose maps no node has pinned any more."""
    pinned: set[int] = set()
    for pin_dir in (bpffs_root / "hawser").glob("*/v*"):
        pinned |= pinned_map_ids(pin_dir)
    count = 0
    for hook in hawser_hooks(cgroup):
        if not hook["map_ids"] & pinned:
            detach(cgroup, hook)
            count += 1
    return count
