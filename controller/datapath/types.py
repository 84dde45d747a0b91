"""Public value types of the datapath API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

DEFAULT_TRACE_SAMPLE_RATE = 0  # traces off by default; drops are always sampled
DEFAULT_DROP_EVENTS_PER_SEC = 100
DEFAULT_SNAT_PORTS = (61000, 65535)
# Bumped whenever a map's type, key or value changes: bcc reopens a pin without checking.
PIN_VERSION = "v5"

# map_sizes keys accepted by DatapathConfig (-> -DHW_<KEY>_SIZE for the C code)
SIZED_MAPS = (
    "ports",
    "endpoints",
    "networks",
    "uplinks",
    "node_addrs",
    "policy",
    "ct",
    "nat",
    "sock",
    "tunnel",
    "tunnel_nodes",
    "sandboxes",
)


@dataclass(frozen=True)
class DatapathConfig:
    node: str  # per-daemon name, used in the pin path
    bpffs_root: Path = Path("/sys/fs/bpf")
    cgroup_path: Path = Path("/sys/fs/cgroup/unified")
    map_sizes: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    trace_sample_rate: int = DEFAULT_TRACE_SAMPLE_RATE  # 1 of N forwarded packets; 0 = none
    drop_events_per_sec: int = DEFAULT_DROP_EVENTS_PER_SEC  # per CPU
    # Source ports for masquerade. Outside the kernel's default ip_local_port_range
    # (32768-60999), so a masqueraded flow never takes a port a node socket may use.
    snat_ports: tuple[int, int] = DEFAULT_SNAT_PORTS

    @property
    def pin_dir(self) -> Path:
        return self.bpffs_root / "hawser" / self.node / PIN_VERSION


@dataclass(frozen=True)
class PortMapping:
    proto: str  # "tcp" | "udp"
    host_ip: str  # "0.0.0.0" = every node address
    host_port: int
    backend_ip: str
    backend_port: int
    ifindex: int  # host-side veth of the backend endpoint


class TunnelEntry(NamedTuple):
    """A remote endpoint in the tunnel map (keyed by its address)."""

    node: str  # underlay address of the node that has it
    vni: int
    mac: str
