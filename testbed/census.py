"""What a Hawser node holds, and leaves behind, read from the kernel (never from the daemon).

- netns: by name (``hw-<node>-…`` sandboxes of a node, ``<prefix>-…`` of a scope);
- links: ``hw…``/``hawser…`` links in the node's netns;
- sandbox folders under /etc/netns;
- bpffs pins under /sys/fs/bpf/hawser/<node>/, the entries of a pinned map;
- root-cgroup programs: shared by everything on the machine, so only read, and a program is
  ours only when the maps it uses are pinned in our node's folder (``hooks_of``);
- processes: by netns, by an environment marker, a node's supervisor shims.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from testbed import netns
from testbed.shell import sh
from testbed.under_test import PIN_VERSION
from testbed.under_test import default_cgroup as root_cgroup
from testbed.wait import until

BPFFS_HAWSER = Path("/sys/fs/bpf/hawser")
NETNS_FOLDERS = Path("/etc/netns")


# netns, links, folders -------------------------------------------------------------------
def netns_with_prefix(prefix: str) -> list[str]:
    return [n for n in netns.names() if n.startswith(prefix)]


def sandbox_netns(node: str) -> list[str]:
    """The sandboxes of Hawser node ``node`` (its --node-name)."""
    return netns_with_prefix(f"hw-{node}-")


def sandbox_folders(node: str) -> list[str]:
    if not NETNS_FOLDERS.exists():
        return []
    return sorted(p.name for p in NETNS_FOLDERS.glob(f"hw-{node}-*"))


def hawser_links(ns: str) -> list[str]:
    """Names of Hawser's links (``hw…``, ``hawser…``) in netns ``ns``."""
    return [n for n in netns.links(ns) if n.startswith(("hw", "hawser"))]


def remove_sandboxes(node: str) -> list[str]:
    """Delete what a node's daemon left of its sandboxes (netns, their processes, folders);
    returns the netns that were still there."""
    left = sandbox_netns(node)
    for ns in left:
        netns.delete(ns)
    for folder in sandbox_folders(node):
        shutil.rmtree(NETNS_FOLDERS / folder, ignore_errors=True)
    return left


def _ip_json(ns: str, *args: str) -> Any:
    out = sh(*netns.enter(ns, *args)).stdout
    return json.loads(out) if out.strip() else []


def addresses_settled(ns: str) -> bool:
    """No address of netns ``ns`` is still tentative (IPv6 duplicate address detection adds
    a link-local address's local route about a second after the link comes up)."""
    return "tentative" not in sh(*netns.enter(ns, "ip", "-6", "addr", "show")).stdout


def node_state(ns: str, node: str) -> dict[str, Any]:
    """A node as the kernel has it, for before/after comparisons: the links of netns ``ns``
    (kind, flags, MTU, MAC, master, addresses), its routes, qdiscs and tc filters, its
    forwarding sysctl and ruleset; Hawser node ``node``'s sandboxes, folders and pins."""
    links = {}
    for link in _ip_json(ns, "ip", "-d", "-j", "addr", "show"):
        info = link.get("linkinfo", {})
        links[link["ifname"]] = {
            "kind": info.get("info_kind", ""),
            "flags": sorted(link.get("flags", [])),
            "mtu": link.get("mtu"),
            "mac": link.get("address"),
            "master": link.get("master", ""),
            "addresses": sorted(
                f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
            ),
        }
    every_route = _ip_json(ns, "ip", "-j", "route", "show", "table", "all")
    routes = sorted(json.dumps(r, sort_keys=True) for r in every_route)
    qdiscs = sorted(
        f"{q['dev']} {q['kind']} {q.get('handle', '')} {q.get('parent', q.get('root', ''))}"
        for q in _ip_json(ns, "tc", "-j", "qdisc", "show")
    )
    filters = []
    for name in links:
        for side in ("ingress", "egress"):
            for f in _ip_json(ns, "tc", "-j", "filter", "show", "dev", name, side):
                opts = f.get("options", {})
                filters.append(f"{name} {side} {f.get('kind')} {opts.get('bpf_name', '')}")
    forwarding = sh(*netns.enter(ns, "cat", "/proc/sys/net/ipv4/ip_forward")).stdout.strip()
    return {
        "links": links,
        "routes": routes,
        "qdiscs": qdiscs,
        "filters": sorted(filters),
        "ip_forward": forwarding,
        "ruleset": netns_ruleset(ns),
        "sandboxes": sandbox_netns(node),
        "folders": sandbox_folders(node),
        "pins": (BPFFS_HAWSER / node).exists(),
    }


# rules and mounts ------------------------------------------------------------------------
def _rules(*prefix: str, tools: tuple[tuple[str, ...], ...]) -> str:
    out = []
    for argv in tools:
        result = sh(*prefix, *argv, check=False)
        out.append("\n".join(x for x in result.stdout.splitlines() if not x.startswith("#")))
    return "\n".join(out)


def host_ruleset() -> str:
    """The root netns's iptables (nft and legacy) and nftables rules, without timestamps."""
    tools = (("iptables-save",), ("iptables-legacy-save",), ("nft", "list", "ruleset"))
    return _rules(tools=tools)


def netns_ruleset(ns: str) -> str:
    """The iptables and nftables rules of netns ``ns`` ("" when it has none)."""
    tools = (("iptables-save",), ("nft", "list", "ruleset"))
    return _rules(*netns.netns_exec(ns), tools=tools).strip()


def host_mounts_under(path: Path) -> list[str]:
    """Mount points of the caller's own mount namespace at or below ``path``."""
    prefix = str(path.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


# bpffs and the root cgroup ----------------------------------------------------------------
def bpftool(*args: str) -> Any:
    out = subprocess.run(
        ["bpftool", "-j", *args], check=True, capture_output=True, text=True, timeout=20
    ).stdout
    return json.loads(out) if out.strip() else []


def attached() -> list[dict[str, Any]]:
    """Programs attached to the root cgroup: [{id, attach_type, name, …}]."""
    try:
        return list(bpftool("cgroup", "show", str(root_cgroup())))
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return []


def pinned_map_ids(node: str) -> set[int]:
    """Ids of the maps pinned for Hawser node ``node`` (any pin version)."""
    if not (BPFFS_HAWSER / node).is_dir():
        return set()
    folder = f"{BPFFS_HAWSER / node}/"
    try:
        maps = bpftool("-f", "map", "show")  # -f: with the paths each map is pinned at
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return set()
    return {int(m["id"]) for m in maps if any(p.startswith(folder) for p in m.get("pinned", []))}


def hooks_of(node: str) -> list[dict[str, Any]]:
    """Root-cgroup programs that use a map pinned for ``node``: that node's daemon's hooks
    (still there after a kill -9, which cannot detach them)."""
    ours = pinned_map_ids(node)
    hooks = attached() if ours else []
    if not hooks:
        return []
    try:
        progs = {int(p["id"]): set(p.get("map_ids", [])) for p in bpftool("prog", "show")}
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return []
    return [h for h in hooks if progs.get(int(h["id"]), set()) & ours]


def detach(hook: dict[str, Any]) -> None:
    sh("bpftool", "cgroup", "detach", str(root_cgroup()), str(hook["attach_type"]),
       "id", str(hook["id"]), check=False)  # fmt: skip


def remove_pins(node: str) -> list[dict[str, Any]]:
    """Detach the node's hooks a kill -9 left, then remove its pins; returns those hooks."""
    left = hooks_of(node)
    for hook in left:
        detach(hook)
    shutil.rmtree(BPFFS_HAWSER / node, ignore_errors=True)
    return left


def pinned_entries(node: str, map_name: str) -> list[dict[str, Any]]:
    """Entries of node ``node``'s pinned map ``map_name`` (the daemon's current pin version),
    as bpftool decodes them with BTF ({"key": …, "value": …})."""
    pin = BPFFS_HAWSER / node / PIN_VERSION / map_name
    return [entry["formatted"] for entry in bpftool("map", "dump", "pinned", str(pin))]


# processes ------------------------------------------------------------------------------
def ns_id(netns_path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(netns_path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _proc_entries() -> list[str]:
    return [e for e in os.listdir("/proc") if e.isdigit()]


def tagged_processes(marker: str) -> dict[int, tuple[int, int] | None]:
    """pid -> netns id of every process whose environment holds the entry ``marker``."""
    out = {}
    needle = marker.encode()
    for entry in _proc_entries():
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            out[int(entry)] = ns_id(f"/proc/{entry}/ns/net")
    return out


def shims(state_dir: Path) -> dict[int, int]:
    """Shims (``… shim.py hawser-shim <state_dir>/containers/<id>``) of the node whose state
    folder is ``state_dir``: shim pid → the pid of the command it watches (0 when none)."""
    root = str(state_dir / "containers").encode()
    out = {}
    for entry in _proc_entries():
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            at = argv.index(b"hawser-shim") if b"hawser-shim" in argv[:6] else -1
            if at < 0 or not argv[at + 1].startswith(root + b"/"):
                continue
            children = Path(f"/proc/{entry}/task/{entry}/children").read_text().split()
        except (OSError, IndexError):
            continue
        out[int(entry)] = int(children[0]) if children else 0
    return out


def shim_pids(state_dir: Path) -> set[int]:
    """The commands the node's shims watch (each container's ``State.Pid``)."""
    return set(shims(state_dir).values())


def cgroup_folder(node: str) -> Path:
    """Where node ``node``'s daemon keeps its containers' cgroups (the v2 root's hawser/)."""
    return root_cgroup() / "hawser" / node


def remove_cgroups(node: str) -> list[str]:
    """Kill what is left in the node's container cgroups and delete them; returns the ids of
    those that were still there."""
    base = cgroup_folder(node)
    left = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    for name in left:
        folder = base / name
        with contextlib.suppress(OSError):
            (folder / "cgroup.kill").write_text("1")
        until(functools.partial(_rmdir, folder), 2)  # the kill is asynchronous
    for folder in (base, base.parent):
        with contextlib.suppress(OSError):
            folder.rmdir()
    return left


def _rmdir(folder: Path) -> bool:
    """Remove an empty folder: True once it is gone, False while it is still busy."""
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
