"""Inspection: every map's entries and counters as plain rows (``hawser bpf``, metrics,
reconcile), the sampled drop/trace events, and the programs attached to an interface."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from controller.errors import HawserError

from . import codec, source, tc
from .codec import proto_name, u16_port, u32_ip
from .tables import MAPS, Tables, entries, scalar
from .writers import NET_ICC, NET_INTERNAL, NET_MASQ

#: hw_traffic of an endpoint: rx = delivered to it by the datapath, tx = sent by it,
#: drop = what it sent that from-container dropped
EP_STATS_FIELDS = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drop_packets", "drop_bytes")


class Readers(Tables):
    def uplinks(self) -> dict[int, str]:
        """ifindex → address of every uplink entry."""
        return {k.value: u32_ip(v.addr) for k, v in self._t("hawser_uplinks").items()}

    def subnets(self) -> dict[str, int]:
        """ "a.b.c.d/len" → network key of every subnet (LPM) entry."""
        return {
            f"{u32_ip(k.addr)}/{k.prefixlen}": v.value for k, v in self._t("hawser_subnets").items()
        }

    def sandbox_dns(self) -> dict[int, str]:
        """netns cookie -> address:port of its embedded DNS."""
        return {
            scalar(k): f"{u32_ip(v.addr)}:{u16_port(v.port)}"
            for k, v in entries(self._t("hawser_sandbox_dns"))
        }

    def tunnel(self) -> list[dict[str, Any]]:
        return [
            {
                "ip": u32_ip(scalar(k)),
                "node": u32_ip(v.node_ip),
                "vni": v.vni,
                "mac": codec.bytes_mac(v.mac),
            }
            for k, v in entries(self._t("hawser_tunnel"))
        ]

    def tunnel_stats(self) -> list[dict[str, Any]]:
        t = self._t("hawser_tunnel_stats")
        out = []
        for k in t:
            cpus = t.getvalue(k)
            row: dict[str, Any] = {"node": u32_ip(k.value)}
            for f in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes"):
                row[f] = sum(getattr(c, f) for c in cpus)
            out.append(row)
        return out

    def stats(self) -> list[dict[str, Any]]:
        t = self._t("hawser_stats")
        slots = source.constant("HW_REASON_SLOTS")
        reasons = source.reasons()
        out = []
        for d, dname in source.directions().items():
            for r, rname in reasons.items():
                cpus = t.getvalue(t.Key(d * slots + r))
                out.append(
                    {
                        "direction": dname,
                        "reason": rname,
                        "packets": sum(c.packets for c in cpus),
                        "bytes": sum(c.bytes for c in cpus),
                    }
                )
        return out

    def counters(self) -> dict[str, int]:
        """Flow events (enum hw_counter): {"dnat_new": n, "snat_new": n, ...}."""
        t = self._t("hawser_counters")
        return {
            name.removeprefix("HW_CNT_").lower(): sum(t.getvalue(t.Key(value)))
            for value, name in source.enum("hw_counter").items()
            if name != "HW_CNT_MAX"
        }

    def maps(self) -> list[dict[str, Any]]:
        from bcc import table as bt

        out = []
        for name in MAPS:
            t = self._t(name)
            kind = {
                bt.BPF_MAP_TYPE_HASH: "hash",
                bt.BPF_MAP_TYPE_LRU_HASH: "lru_hash",
                bt.BPF_MAP_TYPE_PERCPU_HASH: "percpu_hash",
                bt.BPF_MAP_TYPE_PERCPU_ARRAY: "percpu_array",
                bt.BPF_MAP_TYPE_ARRAY: "array",
                bt.BPF_MAP_TYPE_LPM_TRIE: "lpm_trie",
            }.get(t.ttype, str(t.ttype))
            count = t.max_entries if "array" in kind else sum(1 for _ in entries(t))
            out.append(
                {
                    "name": name,
                    "type": kind,
                    "entries": count,
                    "capacity": t.max_entries,
                    "pin_path": str(self.config.pin_dir / name),
                }
            )
        return out

    def ports(self) -> list[dict[str, Any]]:
        return [
            {
                "proto": proto_name(k.proto),
                "host_ip": u32_ip(k.host_ip),
                "host_port": u16_port(k.host_port),
                "backend_ip": u32_ip(v.backend_ip),
                "backend_port": u16_port(v.backend_port),
                "ifindex": v.ifindex,
            }
            for k, v in entries(self._t("hawser_ports"))  # batched: ranges make it large
        ]

    def endpoints(self) -> list[dict[str, Any]]:
        return [
            {
                "ip": u32_ip(k.value),
                "ifindex": v.ifindex,
                "network": v.network,
                "mac": codec.bytes_mac(v.mac),
            }
            for k, v in self._t("hawser_endpoints").items()
        ]

    def networks(self) -> list[dict[str, Any]]:
        return [
            {
                "key": k.value,
                "subnet": f"{u32_ip(v.subnet)}/{v.prefix}",
                "gateway": u32_ip(v.gateway),
                "bridge_mac": codec.bytes_mac(v.bridge_mac),
                "snat_ip": u32_ip(v.snat_ip) if v.snat_ip else None,
                "icc": bool(v.flags & NET_ICC),
                "masquerade": bool(v.flags & NET_MASQ),
                "internal": bool(v.flags & NET_INTERNAL),
                "vni": int(v.vni),
                "mtu": int(v.mtu),
            }
            for k, v in self._t("hawser_networks").items()
        ]

    def policy(self) -> list[dict[str, Any]]:
        return [
            {
                "src": u32_ip(k.src),
                "dst": u32_ip(k.dst),
                "proto": proto_name(k.proto),
                "dport": u16_port(k.dport),
            }
            for k in self._t("hawser_policy")
        ]

    def port_stats(self) -> list[dict[str, Any]]:
        out = []
        t = self._t("hawser_port_stats")
        for k in t:
            cpus = t.getvalue(k)
            out.append(
                {
                    "proto": proto_name(k.proto),
                    "host_ip": u32_ip(k.host_ip),
                    "host_port": u16_port(k.host_port),
                    "conns": sum(c.conns for c in cpus),
                    "packets": sum(c.packets for c in cpus),
                    "bytes": sum(c.bytes for c in cpus),
                }
            )
        return out

    def endpoint_stats(self) -> list[dict[str, Any]]:
        out = []
        t = self._t("hawser_endpoint_stats")
        for k in t:
            cpus = t.getvalue(k)
            row: dict[str, Any] = {"ifindex": k.value}
            for f in EP_STATS_FIELDS:
                row[f] = sum(getattr(c, f) for c in cpus)
            out.append(row)
        return out

    def open_events(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Deliver sampled drop/trace events to callback(dict) from poll_events()."""
        t = self._t("hawser_events")
        event_type = self._t("hawser_event_scratch").sLeaf
        reasons = source.reasons()
        dirs = source.directions()

        def handle(_cpu: int, data: Any, _size: int) -> None:
            e = ctypes.cast(data, ctypes.POINTER(event_type)).contents
            callback(
                {
                    "ts_ns": e.ts_ns,
                    "ifindex": e.ifindex,
                    "direction": dirs.get(e.direction, str(e.direction)),
                    "verdict": "drop" if e.verdict else "forward",
                    "reason": reasons.get(e.reason, str(e.reason)),
                    "proto": proto_name(e.proto),
                    "src": u32_ip(e.saddr),
                    "sport": u16_port(e.sport),
                    "dst": u32_ip(e.daddr),
                    "dport": u16_port(e.dport),
                    "len": e.len,
                }
            )

        t.open_perf_buffer(handle)
        self._perf_open = True

    def poll_events(self, timeout_ms: int) -> None:
        if not self._perf_open:
            raise HawserError("open_events() first")
        self.bpf.perf_buffer_poll(timeout=timeout_ms)

    def tc_programs(self, ifindex: int, egress: bool = False) -> list[str]:
        """Program names on ifindex's clsact ingress or egress (inspection, tests)."""
        return tc.attached(self.ipr, ifindex, tc.EGRESS if egress else tc.INGRESS)
