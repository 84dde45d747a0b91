"""Control-plane measurements: S6 (publish a 1,000-port range) and S7 (create 200 containers)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from bench import docker_proxy
from bench.hawser_driver import HawserNode
from bench.iptables_layout import Published, docker_commands, ruleset
from bench.proc import in_ns, pss_kib, rss_kib, sh, stop
from bench.topology import SRV_IP, UPLINK, BaselineNode, Link

RANGE_START = 20000


@dataclass(frozen=True)
class ControlParams:
    range_ports: int  # S6 range length (1,000 in --full)
    containers: int  # S7 containers per run (200 in --full)
    runs: int


def s6_docker(p: ControlParams, run: int) -> dict[str, float]:
    """dockerd 20.10's way: per port, iptables -C/-A for 3 rules, then one docker-proxy (IPv4)."""
    topo = BaselineNode(f"s6d{run}")
    proxies = []
    try:
        topo.build()
        sh(
            in_ns(topo.node, "iptables-restore"),
            input=ruleset([Published("tcp", 8080, SRV_IP, 80)], 0),
        )
        lines = []
        for i in range(p.range_ports):
            cmds = docker_commands(Published("tcp", RANGE_START + i, SRV_IP, RANGE_START + i))
            for k in range(0, len(cmds), 2):  # check, and append only when missing
                lines.append(" ".join(cmds[k]) + " 2>/dev/null || " + " ".join(cmds[k + 1]))
        t0 = time.perf_counter()
        sh(in_ns(topo.node, "sh", "-e"), input="\n".join(lines) + "\n", timeout=600)
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
            "processes": float(len([x for x in proxies if x.poll() is None])),
        }
    finally:
        for x in proxies:
            stop(x, timeout=2)
        topo.destroy()


def s6_hawser(hw: HawserNode, p: ControlParams, run: int) -> dict[str, float]:
    """`run -p A-B:A-B` of a sandbox through the API; compared with the same run without -p."""
    from bench.proc import descendants

    base = f"s6r{run}"
    procs0 = len(descendants(hw.pid))
    t_plain = hw.create_api({"Name": f"{base}p", "Detach": True})
    procs1 = len(descendants(hw.pid))
    rss0 = hw.rss_kib()
    end = RANGE_START + p.range_ports - 1
    t_range = hw.create_api(
        {"Name": base, "Detach": True, "Publish": [f"{RANGE_START}-{end}:{RANGE_START}-{end}"]}
    )
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
            hw.stop()
        topo.destroy()


def s6_hawser_node(run_tag: str) -> tuple[Link, HawserNode]:
    topo = Link(f"s6h{run_tag}")
    topo.build()
    hw = HawserNode(topo.node, UPLINK, f"s6h{run_tag}")
    hw.start()
    return topo, hw
