"""What every part of the Datapath shares: the compiled object, its maps by name, and the
helpers that read them in batches."""

from __future__ import annotations

import contextlib
from typing import Any

from controller.errors import DatapathUnavailable

from .types import DatapathConfig

MAPS = (
    "hawser_ports", "hawser_port_stats", "hawser_endpoints", "hawser_endpoint_stats",
    "hawser_networks", "hawser_subnets", "hawser_uplinks", "hawser_node_addrs",
    "hawser_policy", "hawser_ct", "hawser_nat", "hawser_sock", "hawser_stats", "hawser_config",
    "hawser_tunnel", "hawser_tunnel_stats", "hawser_sandbox_dns", "hawser_counters",
)  # fmt: skip
PINNED = set(MAPS)


def scalar(key: Any) -> int:
    """A scalar map key: batch lookups give plain ints, per-key iteration ctypes values."""
    return int(getattr(key, "value", key))


def entries(table: Any) -> Any:
    """(key, value) pairs in a few syscalls (BPF_MAP_LOOKUP_BATCH), falling back per key."""
    try:
        return list(table.items_lookup_batch())
    except Exception:  # kernels or map types without batch ops
        return list(table.items())


class Tables:
    """The state the writers, flows and readers work on (set up by ``Datapath``)."""

    config: DatapathConfig
    ipr: Any  # the node's netlink handle (tc filters)
    bpf: Any  # bcc's BPF object, None until started
    _progs: dict[str, int]  # program name → fd
    # node addresses: derived from uplinks and gateways, plus the explicit ones
    _explicit_addrs: set[int]
    _uplinks: dict[int, int]  # ifindex → address
    _gateways: dict[int, int]  # network key → gateway
    _perf_open: bool  # the events buffer is open

    def _t(self, name: str) -> Any:
        if self.bpf is None:
            raise DatapathUnavailable("the datapath is not started")
        return self.bpf[name.encode()]  # cached: a PerfEventArray closes its buffers when collected

    @staticmethod
    def _del(t: Any, k: Any) -> None:
        with contextlib.suppress(KeyError):
            del t[k]
