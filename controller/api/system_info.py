"""``GET /v1/info``: the node at a glance, in the shape of Docker's ``GET /info``.

Docker's keys where Docker has one (``Containers``, ``ContainersRunning``, ``KernelVersion``,
``OperatingSystem``, ``NCPU``, ``MemTotal``, ``ClusterStore``…), plus what a Hawser node has
and Docker's does not: the datapath (programs, where they attach, maps, compile time, trace
sampling) and the uplinks.
"""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller import __version__
from controller.kernel.supervisor import is_running

if TYPE_CHECKING:
    from controller.ops.node import Node

#: How long ``info`` waits for a running operation before it answers without store counts.
LOCK_SECONDS = 0.5


def _os_name(path: Path = Path("/etc/os-release")) -> str:
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "PRETTY_NAME":
                return value.strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _mem_total(path: Path = Path("/proc/meminfo")) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _store_counts(node: Node) -> dict[str, Any]:
    if not node.lock.acquire(timeout=LOCK_SECONDS):
        return {}  # a long operation holds the store: the rest still answers (readiness)
    try:
        ctrs = node.store.containers()
        running = sum(1 for c in ctrs if is_running(c))
        endpoints = sum(1 for ep in node.store.endpoints() if ep.host_ifname)
        return {
            "Containers": len(ctrs),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": len(ctrs) - running,
            "Networks": len(node.store.networks()),
            "_endpoints": endpoints,
        }
    finally:
        node.lock.release()


def _programs(datapath: dict[str, Any], uplinks: int, endpoints: int) -> list[dict[str, Any]]:
    tunnel = 1 if datapath.get("TunnelDevice") else 0
    return [
        {"Name": "hawser_from_uplink", "AttachPoint": "tc ingress", "Links": uplinks},
        {"Name": "hawser_to_uplink", "AttachPoint": "tc egress", "Links": uplinks},
        {"Name": "hawser_from_container", "AttachPoint": "tc ingress", "Links": endpoints},
        {"Name": "hawser_from_tunnel", "AttachPoint": "tc ingress", "Links": tunnel},
        *(
            {"Name": hook, "AttachPoint": f"cgroup {datapath['CgroupPath']}", "Links": 0}
            for hook in datapath.get("SockHooks", [])
        ),
    ]


def info(node: Node) -> dict[str, Any]:
    cfg = node.config
    counts = _store_counts(node)
    endpoints = counts.pop("_endpoints", 0)
    datapath = node.datapath.describe()
    datapath["Programs"] = _programs(datapath, len(node.uplinks), endpoints)
    out: dict[str, Any] = {
        **counts,
        "ServerVersion": __version__,
        "Version": __version__,
        "Node": node.name,
        "Name": socket.gethostname(),
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _mem_total(),
        "HawserRootDir": cfg.state_dir,
        "StateDir": cfg.state_dir,
        "Socket": cfg.socket,
        "MetricsAddress": node.metrics_address,
        "Uplinks": sorted(node.uplinks),
        "Datapath": datapath,
        "Config": dict(cfg.values),
    }
    if getattr(cfg, "cluster_store", ""):
        out["ClusterStore"] = cfg.cluster_store
        out["ClusterAdvertise"] = getattr(cfg, "cluster_advertise", "")
    for section in node.info_sections:  # plugins' (the overlay's resolved store and address)
        out.update(section())
    return out
