"""What the benchmark leaves behind: root-cgroup programs, bpffs pins, netns, state folders.

The root cgroup is shared with everything else on the machine (other test suites attach their
own Hawser daemons' hooks there), so it is only read, and a program is detached only when it is
provably ours: its maps are pinned under the pin folder of a node this run started. The ids of
our daemons' hooks are recorded while they run, so that a hook still attached at the end can be
attributed even after its pins are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.proc import SCOPE
from testbed import netns
from testbed.census import BPFFS_HAWSER, attached, hooks_of, root_cgroup


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
    pins = {p.name for p in BPFFS_HAWSER.iterdir()} if BPFFS_HAWSER.is_dir() else set()
    programs = frozenset(int(e["id"]) for e in attached())
    return Snapshot(programs, frozenset(netns.names()), frozenset(pins))


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
    mine = f"{SCOPE.prefix}-"
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
