"""What the benchmark leaves behind: root-cgroup programs, bpffs pins, netns, state folders.

The root cgroup is shared with everything else on the machine (other test suites attach their
own Hawser daemons' hooks there), so it is only read, and a program is detached only when it is
provably ours: its maps are pinned under the pin folder of a node this run started. The ids of
our daemons' hooks are recorded while they run, so that a hook still attached at the end can be
attributed even after its pins are gone.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.proc import PREFIX, RUN_ID, sh
from controller.daemon.main import default_cgroup

BPFFS_HAWSER = Path("/sys/fs/bpf/hawser")


def root_cgroup() -> Path:
    """The cgroup v2 root the daemon attaches to by default (the daemon's own rule)."""
    return default_cgroup()


def _bpftool(*args: str) -> Any:
    out = subprocess.run(
        ["bpftool", "-j", *args], check=True, capture_output=True, text=True, timeout=20
    ).stdout
    return json.loads(out) if out.strip() else []


def attached() -> list[dict[str, Any]]:
    """Programs attached to the root cgroup: [{id, attach_type, name, ...}]."""
    try:
        return list(_bpftool("cgroup", "show", str(root_cgroup())))
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return []


def pinned_map_ids(node: str) -> set[int]:
    """Ids of the maps pinned for Hawser node `node` (any pin version)."""
    ids: set[int] = set()
    for pin in BPFFS_HAWSER.glob(f"{node}/v*/*"):
        try:
            ids.add(int(_bpftool("map", "show", "pinned", str(pin))["id"]))
        except (subprocess.CalledProcessError, KeyError, TypeError, ValueError):
            continue
    return ids


def hooks_of(node: str) -> list[dict[str, Any]]:
    """Root-cgroup programs that use a map pinned for `node`: that node's daemon's hooks."""
    ours = pinned_map_ids(node)
    if not ours:
        return []
    found = []
    for entry in attached():
        try:
            prog = _bpftool("prog", "show", "id", str(entry["id"]))
        except subprocess.CalledProcessError:
            continue
        if set(prog.get("map_ids", [])) & ours:
            found.append(entry)
    return found


def detach(hook: dict[str, Any]) -> None:
    sh(
        [
            "bpftool",
            "cgroup",
            "detach",
            str(root_cgroup()),
            str(hook["attach_type"]),
            "id",
            str(hook["id"]),
        ],
        check=False,
    )


@dataclass
class Ledger:
    """What this run made that must be gone at the end."""

    nodes: set[str] = field(default_factory=set)  # Hawser node names (pins, hw- netns)
    hook_ids: set[int] = field(default_factory=set)  # our daemons' root-cgroup programs
    state_dirs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # reported loudly, fail the run

    def node_started(self, node: str) -> None:
        self.nodes.add(node)
        self.hook_ids |= {int(h["id"]) for h in hooks_of(node)}


LEDGER = Ledger()


@dataclass(frozen=True)
class Snapshot:
    programs: frozenset[int]
    netns: frozenset[str]
    pins: frozenset[str]


def snapshot() -> Snapshot:
    netns = {
        line.split()[0]
        for line in sh(["ip", "netns", "list"], check=False).splitlines()
        if line.split()
    }
    pins = {p.name for p in BPFFS_HAWSER.iterdir()} if BPFFS_HAWSER.is_dir() else set()
    return Snapshot(frozenset(int(e["id"]) for e in attached()), frozenset(netns), frozenset(pins))


def leftovers(before: Snapshot) -> tuple[list[str], list[str]]:
    """(problems, notes): what this run left, and what others changed meanwhile."""
    now = snapshot()
    problems, notes = list(LEDGER.problems), []
    ours_left = sorted(now.programs & LEDGER.hook_ids)
    if ours_left:
        problems.append(f"our daemons' programs still attached to {root_cgroup()}: {ours_left}")
    others = sorted(now.programs - before.programs - LEDGER.hook_ids)
    if others:
        notes.append(
            f"{len(others)} program(s) appeared on {root_cgroup()} during the run that are not "
            f"ours (other test suites' daemons): {others}"
        )
    mine = f"{PREFIX}{RUN_ID}-"
    ns_left = sorted(
        ns
        for ns in now.netns - before.netns
        if ns.startswith(mine) or any(ns.startswith(f"hw-{n}-") for n in LEDGER.nodes)
    )
    if ns_left:
        problems.append(f"netns left: {ns_left}")
    pins_left = sorted(now.pins & LEDGER.nodes)
    if pins_left:
        problems.append(f"bpffs pins left under {BPFFS_HAWSER}: {pins_left}")
    dirs_left = sorted(d for d in LEDGER.state_dirs if Path(d).exists())
    if dirs_left:
        problems.append(f"state folders left: {dirs_left}")
    return problems, notes
