"""Proof of path: after each run, the counters of the path a row names must have moved with its
load.

- Hawser: the datapath's own counters through the daemon's API (`/v1/bpf/ports` new flows,
  packets and bytes per published port; `/v1/bpf/stats` per direction; `/v1/bpf/endpoints` for
  what a container sent; `/v1/bpf/ct` for the masquerade entries a run created). The node netns
  must also hold no iptables/nftables rule at all.
- iptables: the packet counters of the DNAT / MASQUERADE rules (`iptables-save -c` in the node);
  docker-proxy: the bytes the proxy process read (/proc/PID/io).
- limit and no NAT: no tc qdisc that could hold a BPF filter, no XDP program, no rule, in every
  netns of the topology. (The server's view of the peer address, checked by the scenarios,
  shows that nothing translated the source either.)

A check returns a list of problems; a run with any problem is INVALID and gives no number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bench.proc import BenchError, sh
from testbed.netns import enter

MASQ_RULE = "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
_COUNTED = re.compile(r"^\[(\d+):(\d+)\] (.*)$")


@dataclass
class Load:
    """What one run pushed through the path, as the client and the server counted it."""

    scenario: str
    proto: str  # tcp | udp
    port: int  # the translated port: published host port (S1-S5) or the S8 server port
    flows: tuple[int, int]  # new connections through the path: at least, at most
    packets: int = 0  # packets the client sent through the path, at least
    payload: int = 0  # bytes through the path, at least
    ops: int = 0
    tail_ops: int | None = None  # sustained runs: operations in the last interval
    seen: dict[str, float] = field(default_factory=dict)  # counters a check reports as figures


def _between(what: str, got: int, lo: int, hi: int | None = None) -> list[str]:
    if got < lo or (hi is not None and got > hi):
        want = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        return [f"{what} moved by {got}, expected {want}"]
    return []


# ---- limit / no NAT: nothing on the path -------------------------------------------------------


def no_rules(ns: str) -> list[str]:
    """No nftables/iptables rule in netns ns (iptables-nft rules are nftables rules)."""
    ruleset = sh(enter(ns, "nft", "list", "ruleset"), check=False).strip()
    if ruleset:
        first = ruleset.splitlines()[0]
        return [f"netns {ns} has nftables/iptables rules ({first} ...)"]
    return []


def untranslated(namespaces: list[str]) -> list[str]:
    """No tc hook (clsact/ingress qdisc), no XDP program and no rule in any of these netns."""
    problems = []
    for ns in namespaces:
        qdiscs = sh(["tc", "-n", ns, "qdisc", "show"], check=False)
        hooks = [q for q in qdiscs.splitlines() if " clsact " in q or " ingress " in q]
        if hooks:
            problems.append(f"netns {ns} has a tc hook: {hooks[0].strip()}")
        links = sh(["ip", "-n", ns, "link", "show"], check=False)
        if "xdp" in links:
            problems.append(f"netns {ns} has an XDP program attached")
        problems += no_rules(ns)
    return problems


# ---- iptables and docker-proxy ---------------------------------------------------------------


def rule_counters(ns: str, table: str) -> dict[str, int]:
    """Rule text -> packets, from `iptables-save -c -t table` inside ns."""
    out = {}
    for line in sh(enter(ns, "iptables-save", "-c", "-t", table), timeout=120).splitlines():
        m = _COUNTED.match(line)
        if m:
            out[m.group(3)] = int(m.group(1))
    return out


def dnat_rule(proto: str, port: int) -> str:
    return f"-A DOCKER ! -i docker0 -p {proto} -m {proto} --dport {port} -j DNAT"


def _rule(counters: dict[str, int], prefix: str) -> int:
    for text, pkts in counters.items():
        if text.startswith(prefix):
            return pkts
    raise BenchError(f"no rule starting with {prefix!r}")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, all threads (clock ticks)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def passive_opens(ns: str) -> int:
    """TCP connections accepted by any listener in netns ns (its Tcp MIB, /proc/net/snmp)."""
    lines = [ln.split() for ln in sh(enter(ns, "cat", "/proc/net/snmp")).splitlines()]
    tcp = [ln for ln in lines if ln and ln[0] == "Tcp:"]
    return int(tcp[1][tcp[0].index("PassiveOpens")])


def listener_pids(ns: str, port: int) -> set[int]:
    """Pids of the processes listening on TCP port in netns ns."""
    out = sh(enter(ns, "ss", "-Hltnp", f"sport = :{port}"), check=False)
    return {int(m) for m in re.findall(r"pid=(\d+)", out)}


def iptables_probe(node: str, scenario: str, proxies: dict[tuple[str, int], Any]) -> Any:
    snap: dict[str, Any] = {"nat": rule_counters(node, "nat")}
    if scenario == "S4":
        snap["filter"] = rule_counters(node, "filter")
    if scenario == "S5":
        snap["accepted"] = passive_opens(node)
        snap["proxy_cpu"] = {key: cpu_ticks(p.pid) for key, p in proxies.items()}
        snap["listeners"] = {
            key: (listener_pids(node, key[1]), p.pid)
            for key, p in proxies.items()
            if key[0] == "tcp"
        }
    return snap


def iptables_check(load: Load, before: Any, after: Any) -> list[str]:
    if load.scenario == "S8":
        moved = _rule(after["nat"], MASQ_RULE) - _rule(before["nat"], MASQ_RULE)
        return _between("the MASQUERADE rule's packet counter", moved, *load.flows)
    dnat = dnat_rule(load.proto, load.port)
    moved = _rule(after["nat"], dnat) - _rule(before["nat"], dnat)
    if load.scenario == "S5":  # node-local: docker-proxy relays, the kernel translates nothing
        key = (load.proto, load.port)
        pids, proxy = after["listeners"][key]
        problems = [] if pids == {proxy} else [f"port {load.port} listened by {pids}, not {proxy}"]
        accepted = after["accepted"] - before["accepted"]
        problems += _between(
            "connections accepted in the node (by the proxies)", accepted, load.flows[0]
        )
        cpu = after["proxy_cpu"][key] - before["proxy_cpu"][key]
        if (load.ops >= 500 or load.payload >= 10_000_000) and cpu <= 0:
            problems.append(f"docker-proxy {load.proto}/{load.port} used no CPU time")
        return problems + _between(f"the DNAT rule of {load.proto}/{load.port}", moved, 0, 0)
    problems = _between(f"the DNAT rule of {load.proto}/{load.port}'s packets", moved, *load.flows)
    if load.scenario == "S4":
        fwd = sum(
            after["filter"].get(text, 0) - pkts
            for text, pkts in before["filter"].items()
            if text.startswith("-A FORWARD -o docker0")
        )
        problems += _between("the FORWARD rules to docker0", fwd, load.packets)
    return problems


# ---- Hawser ------------------------------------------------------------------------------------


def _stats(hw: Any) -> dict[tuple[str, str], int]:
    return {(r["direction"], r["reason"]): int(r["packets"]) for r in hw.get("/v1/bpf/stats")}


def hawser_probe(hw: Any, scenario: str) -> Any:
    snap: dict[str, Any] = {"stats": _stats(hw)}
    if scenario == "S8":
        snap["endpoints"] = {r["ip"]: r for r in hw.get("/v1/bpf/endpoints")}
    else:
        snap["ports"] = {
            (r["proto"], r["host_ip"], int(r["host_port"])): r for r in hw.get("/v1/bpf/ports")
        }
    return snap


def _delta(before: dict[Any, Any], after: dict[Any, Any], key: Any, field: str) -> int:
    old = before.get(key, {}).get(field, 0)
    return int(after.get(key, {}).get(field, 0)) - int(old)


def hawser_check(hw: Any, load: Load, before: Any, after: Any, container_ip: str) -> list[str]:
    stats_b, stats_a = before["stats"], after["stats"]

    def fwd(direction: str) -> int:
        key = (direction, "forwarded")
        return stats_a.get(key, 0) - stats_b.get(key, 0)

    if load.scenario == "S8":
        return _masquerade_check(hw, load, before, after, container_ip, fwd("from_container"))
    key = (load.proto, "0.0.0.0", load.port)
    if key not in after["ports"]:
        return [f"no datapath entry for published port {load.proto}/{load.port}"]
    what = f"hawser_port_stats {load.proto}/{load.port}"
    flows = _delta(before["ports"], after["ports"], key, "conns")
    if load.scenario == "S5":  # the socket hooks count every connect(); no packet is touched
        problems = _between(f"{what} connects", flows, *load.flows)
        return problems + _between("the sock hooks' forward counter", fwd("sock"), load.flows[0])
    # A new flow is a new CT entry: a client that reuses a tuple within the 10 s a closed flow
    # is kept finds the old entry, so new flows <= connections; every packet is counted.
    problems = _between(f"{what} new flows", flows, min(1, load.flows[0]), load.flows[1])
    problems += _between(
        f"{what} packets", _delta(before["ports"], after["ports"], key, "packets"), load.packets
    )
    problems += _between(
        f"{what} bytes", _delta(before["ports"], after["ports"], key, "bytes"), load.payload
    )
    return problems + _between("from-uplink forwarded packets", fwd("from_uplink"), load.packets)


def _masquerade_check(
    hw: Any, load: Load, before: Any, after: Any, container_ip: str, forwarded: int
) -> list[str]:
    sent = _delta(before["endpoints"], after["endpoints"], container_ip, "tx_packets")
    # every connection: SYN, request, close (RST or FIN) at least
    problems = _between(f"packets sent by the container {container_ip}", sent, 3 * load.ops)
    problems += _between("from-container forwarded packets", forwarded, 3 * load.ops)
    rows = hw.get(f"/v1/bpf/ct?addr={container_ip}&port={load.port}&proto=tcp", timeout=300)
    snat = sum(
        1
        for r in rows
        if r["type"] == "snat" and r["src"] == container_ip and int(r["dport"]) == load.port
    )
    # One entry per container tuple (a tuple the client reuses within 10 s finds its old entry),
    # and the run's server port is fresh: the entries are this run's.
    load.seen["snat_entries"] = float(snat)
    return problems + _between("masquerade (SNAT) CT entries of this run", snat, 1, load.flows[1])


DROPS = ("snat_no_port", "ct_full")


def hawser_drops(before: Any, after: Any) -> dict[str, float]:
    stats_b, stats_a = before["stats"], after["stats"]
    out = {name: 0.0 for name in DROPS}
    total = 0
    for (direction, reason), pkts in stats_a.items():
        if reason == "forwarded":
            continue
        moved = pkts - stats_b.get((direction, reason), 0)
        total += moved
        if reason in out:
            out[reason] += moved
    out["drops"] = float(total)
    return out
