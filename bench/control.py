"""Control-plane measurements: S6 (publish port ranges; a conflicting range) and S7 (create 200
containers).

S6 compares Docker 20.10's way (an iptables exec per rule and one docker-proxy per port) with
Hawser at the first range size, then measures Hawser alone at the larger sizes (10,000 and 30,000
ports in --full) and the time to refuse a range that conflicts with a port already published at
its first, middle or last port — with a check that the refusal changed nothing (containers,
datapath port entries, sandboxes). Hawser's ranges start at 1100, below the node's ephemeral
range, so that none of the daemon's own sockets holds a port of them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench import docker_proxy
from bench.hawser_driver import HawserNode
from bench.iptables_layout import Published, docker_commands, ruleset
from bench.proc import descendants, pss_kib, rss_kib, sh, stop
from bench.topology import SRV_IP, UPLINK, BaselineNode, Link
from testbed.netns import enter

RANGE_START = 20000  # Docker's way
HW_RANGE_START = 1100
POSITIONS = ("first", "middle", "last")


@dataclass(frozen=True)
class ControlParams:
    range_sizes: tuple[int, ...]  # S6 Hawser ranges; the first is also measured Docker's way
    containers: int  # S7 containers per run (200 in --full)
    runs: int
    docker_runs: int  # S6 Docker's way (about 50 s per run at 1,000 ports)

    @property
    def range_ports(self) -> int:
        return self.range_sizes[0]


def s6_docker(p: ControlParams, run: int) -> dict[str, float]:
    """dockerd 20.10's way: per port, iptables -C/-A for 3 rules, then one docker-proxy (IPv4)."""
    topo = BaselineNode(f"s6d{run}")
    proxies = []
    try:
        topo.build()
        sh(
            enter(topo.node, "iptables-restore"),
            input=ruleset([Published("tcp", 8080, SRV_IP, 80)], 0),
        )
        lines = []
        for i in range(p.range_ports):
            cmds = docker_commands(Published("tcp", RANGE_START + i, SRV_IP, RANGE_START + i))
            for k in range(0, len(cmds), 2):  # check, and append only when missing
                lines.append(" ".join(cmds[k]) + " 2>/dev/null || " + " ".join(cmds[k + 1]))
        t0 = time.perf_counter()
        sh(enter(topo.node, "sh", "-e"), input="\n".join(lines) + "\n", timeout=600)
        t_rules = time.perf_counter() - t0
        t1 = time.perf_counter()
        for i in range(p.range_ports):
            port = RANGE_START + i
            proxies.append(docker_proxy.start(topo.node, "tcp", port, SRV_IP, port))
        t_proxies = time.perf_counter() - t1
        pss = sum(pss_kib(x.pid) for x in proxies)
        rss = sum(rss_kib(x.pid) for x in proxies)
        return {
            "wall_s": t_rules + t_proxies,
            "iptables_s": t_rules,
            "proxies_s": t_proxies,
            "extra_mem_mib": pss / 1024,
            "proxies_rss_mib": rss / 1024,
            "processes": float(len([x for x in proxies if x.alive()])),
        }
    finally:
        for x in proxies:
            stop(x, timeout=2)
        topo.destroy()


def s6_hawser(hw: HawserNode, size: int, run: int) -> dict[str, float]:
    """`run -p A-B:A-B` of a sandbox through the API; compared with the same run without -p."""
    base = f"s6r{size}x{run}"
    procs0 = len(descendants(hw.pid))
    t_plain = hw.create_api({"Name": f"{base}p", "Detach": True})
    procs1 = len(descendants(hw.pid))
    rss0 = hw.rss_kib()
    t_range = hw.create_api({"Name": base, "Detach": True, "Publish": [_range(size)]})
    procs2 = len(descendants(hw.pid))
    rss1 = hw.rss_kib()
    hw.rm(base)
    hw.rm(f"{base}p")
    return {
        "wall_s": t_range,
        "no_ports_s": t_plain,
        "extra_mem_mib": (rss1 - rss0) / 1024,
        "processes": float((procs2 - procs1) - (procs1 - procs0)),
    }


def _range(size: int) -> str:
    end = HW_RANGE_START + size - 1
    return f"{HW_RANGE_START}-{end}:{HW_RANGE_START}-{end}"


def conflict_port(size: int, position: str) -> int:
    offset = {"first": 0, "middle": size // 2, "last": size - 1}[position]
    return HW_RANGE_START + offset


def _state(hw: HawserNode) -> dict[str, Any]:
    """What a refused create must leave unchanged."""
    return {
        "containers": sorted(c["Id"] for c in hw.get("/v1/containers?all=1")),
        "ports": sorted(
            (r["proto"], r["host_ip"], int(r["host_port"])) for r in hw.get("/v1/bpf/ports")
        ),
        "endpoints": sorted(r["ip"] for r in hw.get("/v1/bpf/endpoints")),
        "netns": sorted(
            line.split()[0]
            for line in sh(["ip", "netns", "list"], check=False).splitlines()
            if line.startswith(f"hw-{hw.name}-")
        ),
    }


def s6_conflict(
    hw: HawserNode, size: int, position: str, run: int
) -> tuple[dict[str, float], list[str]]:
    """Time until a range conflicting at `position` is refused; problems if anything changed.

    A small container publishes the one port the range will hit, first; it is removed after.
    """
    port = conflict_port(size, position)
    name = f"cf{position}{run}"
    holder = f"hold{position}{run}"
    hw.create_api({"Name": holder, "Detach": True, "Publish": [f"{port}:80"]})
    before = _state(hw)
    t0 = time.perf_counter()
    status, reply = hw.api(
        "POST", "/v1/containers", {"Name": name, "Detach": True, "Publish": [_range(size)]}
    )
    took = time.perf_counter() - t0
    problems = []
    if status == 201:
        hw.containers.append(name)
        problems.append(f"a range over published port {port} was accepted")
    elif status != 409 or str(port) not in str(reply):
        problems.append(f"refusal was {status} {reply}, expected 409 naming port {port}")
    after = _state(hw)
    for key, old in before.items():
        if after[key] != old:
            problems.append(f"the refused create changed {key}")
    hw.rm(holder)
    return {"conflict_s": took}, problems


def s7_hawser(node: str, p: ControlParams, run: int) -> dict[str, float]:
    """Create `containers` sandboxes with one published port each on a fresh daemon."""
    topo = Link(f"s7r{run}")
    hw: HawserNode | None = None
    try:
        topo.build()
        hw = HawserNode(topo.node, UPLINK, f"{node}{run}")
        hw.start()
        rss_idle = hw.rss_kib()
        times = []
        for i in range(p.containers):
            times.append(
                hw.create_api({"Name": f"c{i}", "Detach": True, "Publish": [f"{30000 + i}:80"]})
            )
        q = statistics.quantiles(times, n=100, method="inclusive")
        t_cli0 = time.perf_counter()
        hw.run("cli", ["31999:80"])
        t_cli = time.perf_counter() - t_cli0
        return {
            "p50_ms": statistics.median(times) * 1e3,
            "p95_ms": q[94] * 1e3,
            "max_ms": max(times) * 1e3,
            "cli_run_ms": t_cli * 1e3,
            "daemon_rss_mib": hw.rss_kib() / 1024,
            "daemon_pss_mib": pss_kib(hw.pid) / 1024,
            "daemon_rss_idle_mib": rss_idle / 1024,
        }
    finally:
        if hw is not None:
            hw.close()
        topo.destroy()


def s6_hawser_node(run_tag: str) -> tuple[Link, HawserNode]:
    topo = Link(f"s6h{run_tag}")
    topo.build()
    hw = HawserNode(topo.node, UPLINK, f"s6h{run_tag}")
    hw.start()
    return topo, hw
