"""Rows for ``GET /v1/bpf/*``: the datapath's decoded maps, enriched with names.

Each function takes the datapath (anything with the inspection methods of
``controller.datapath.Datapath``) and a ``NameIndex``, and returns flat rows
whose keys become the CLI's table columns.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from controller.errors import InvalidArgument

from .names import NameIndex

Row = dict[str, Any]
PROTOS = ("tcp", "udp", "icmp")


def maps(dp: Any, names: NameIndex) -> list[Row]:
    rows = []
    for m in dp.maps():
        cap = int(m["capacity"]) or 1
        rows.append(
            {
                "name": m["name"],
                "type": m["type"],
                "entries": m["entries"],
                "capacity": m["capacity"],
                "pressure": int(m["entries"]) / cap if "array" not in m["type"] else None,
                "pin_path": m["pin_path"],
            }
        )
    return rows


def _port_key(row: Row) -> tuple[str, str, int]:
    return (str(row["proto"]), str(row["host_ip"]), int(row["host_port"]))


def ports(dp: Any, names: NameIndex) -> list[Row]:
    stats = {_port_key(s): s for s in dp.port_stats()}
    rows = []
    for p in sorted(dp.ports(), key=lambda r: (r["host_port"], r["proto"], r["host_ip"])):
        s = stats.get(_port_key(p), {})
        rows.append(
            {
                "proto": p["proto"],
                "host_ip": p["host_ip"],
                "host_port": p["host_port"],
                "backend_ip": p["backend_ip"],
                "backend_port": p["backend_port"],
                "container": names.port_owner.get(_port_key(p), "")
                or names.container_of_ip(p["backend_ip"]),
                "ifname": names.ifname(int(p["ifindex"])),
                "conns": s.get("conns", 0),
                "packets": s.get("packets", 0),
                "bytes": s.get("bytes", 0),
            }
        )
    return rows


def endpoints(dp: Any, names: NameIndex) -> list[Row]:
    stats = {int(s["ifindex"]): s for s in dp.endpoint_stats()}
    rows = []
    for e in sorted(dp.endpoints(), key=lambda r: ipaddress.IPv4Address(r["ip"])):
        ep = names.by_ip.get(e["ip"])
        s = stats.get(int(e["ifindex"]), {})
        rows.append(
            {
                "container": ep.container if ep else "",
                "network": names.network_by_key.get(int(e["network"]), str(e["network"])),
                "ip": e["ip"],
                "mac": e["mac"],
                "ifname": ep.host_ifname if ep else "",
                "ifindex": e["ifindex"],
                "rx_packets": s.get("rx_packets", 0),
                "rx_bytes": s.get("rx_bytes", 0),
                "tx_packets": s.get("tx_packets", 0),
                "tx_bytes": s.get("tx_bytes", 0),
            }
        )
    return rows


def policy(dp: Any, names: NameIndex) -> list[Row]:
    rows = [
        {
            "src": r["src"],
            "src_container": names.container_of_ip(r["src"]),
            "dst": r["dst"],
            "dst_container": names.container_of_ip(r["dst"]),
            "proto": r["proto"],
            "dport": r["dport"],
        }
        for r in dp.policy()
    ]
    return sorted(rows, key=lambda r: (r["src"], r["dst"], r["proto"], r["dport"]))


def stats(dp: Any, names: NameIndex, show_all: bool = False) -> list[Row]:
    """Counters per direction and reason; only the ones that counted something, unless
    ``show_all`` (every direction × reason the datapath knows)."""
    return [
        {
            "direction": r["direction"],
            "reason": r["reason"],
            "verdict": "forward" if r["reason"] == "forwarded" else "drop",
            "packets": r["packets"],
            "bytes": r["bytes"],
        }
        for r in dp.stats()
        if show_all or r["packets"] or r["bytes"]
    ]


def counters(dp: Any, names: NameIndex) -> list[Row]:
    return [{"event": event, "count": count} for event, count in dp.counters().items()]


def tunnel(dp: Any, names: NameIndex) -> list[Row]:
    stats = {s["node"]: s for s in dp.tunnel_stats()}
    rows = []
    for e in sorted(dp.tunnel(), key=lambda e: (e["vni"], e["ip"])):
        ep = names.by_ip.get(e["ip"])
        s = stats.get(e["node"], {})
        rows.append(
            {
                "ip": e["ip"],
                "container": ep.container if ep else "",
                "vni": e["vni"],
                "node": e["node"],
                "mac": e["mac"],
                "node_tx_packets": s.get("tx_packets", 0),
                "node_rx_packets": s.get("rx_packets", 0),
                "node_tx_bytes": s.get("tx_bytes", 0),
                "node_rx_bytes": s.get("rx_bytes", 0),
            }
        )
    return rows


def _addr(hostport: str | None) -> tuple[str, int | None]:
    if not hostport:
        return "", None
    host, _, port = hostport.rpartition(":")
    return host, int(port) if port.isdigit() else None


class CtFilter:
    """``?addr=&port=&proto=`` of ``/v1/bpf/ct``: any side of the flow, before or after NAT."""

    def __init__(self, query: dict[str, str]) -> None:
        self.addr = query.get("addr") or None
        self.port: int | None = None
        self.proto = query.get("proto") or None
        if self.addr is not None:
            try:
                self.addr = str(ipaddress.IPv4Address(self.addr))
            except ValueError:
                raise InvalidArgument(f"invalid IP address: {self.addr}") from None
        raw_port = query.get("port") or None
        if raw_port is not None:
            if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
                raise InvalidArgument(f"invalid port: {raw_port}")
            self.port = int(raw_port)
        if self.proto is not None and self.proto not in PROTOS:
            raise InvalidArgument(f"invalid proto: {self.proto}")

    def match(self, row: Row) -> bool:
        if self.proto is not None and row.get("proto") != self.proto:
            return False
        sides = [(row.get("src"), row.get("sport")), (row.get("dst"), row.get("dport"))]
        sides += [_addr(row.get(k)) for k in ("backend", "nat_src", "to")]
        if self.addr is not None and self.addr not in {a for a, _ in sides}:
            return False
        return self.port is None or self.port in {p for _, p in sides}


def original_direction(r: Row) -> Row:
    """A conntrack row as the flow was opened: client → address it dialled (→ backend).

    The CT key is the tuple the lookup sees at from-container: for a published port that is
    the backend's reply (backend → client, the client and published address in the value),
    for an icc-allowed flow the reply too; a masqueraded flow's key is its own first packet.
    """
    kind = r["type"]
    src, sport, dst, dport = r["src"], r["sport"], r["dst"], r["dport"]
    backend = nat_src = ""
    if kind == "dnat" and r.get("nat_src") and r.get("nat_dst"):
        backend = f"{src}:{sport}"
        (src, sport), (dst, dport) = _addr(r.get("nat_dst")), _addr(r.get("nat_src"))
        if r.get("hairpin_snat"):  # a container to its own published port: seen from its gateway
            nat_src = f"{r['dst']}:{r['dport']}"
    elif kind == "allow":
        src, sport, dst, dport = dst, dport, src, sport
    elif kind in ("snat", "node_snat"):
        nat_src = r.get("nat_src") or ""
    return {
        "proto": r["proto"],
        "src": src,
        "sport": sport,
        "dst": dst,
        "dport": dport,
        "backend": backend,
        "nat_src": nat_src,
        "type": kind,
        "state": r["state"],
    }


def ct(dp: Any, names: NameIndex, flt: CtFilter) -> list[Row]:
    """Conntrack entries, each in its original direction (``original_direction``)."""
    rows = []
    for r in dp.ct():
        row = original_direction(r)
        if not flt.match(row):
            continue
        backend_ip, _ = _addr(row["backend"])
        row.update(
            src_container=names.container_of_ip(row["src"]),
            dst_container=names.container_of_ip(backend_ip or row["dst"]),
            ifname=names.ifname(int(r.get("ifindex") or 0)) if r.get("ifindex") else "",
            packets=r.get("packets", 0),
            bytes=r.get("bytes", 0),
            age_s=round(float(r.get("age_s", 0.0)), 1),
            idle_s=round(float(r.get("idle_s", 0.0)), 1),
        )
        rows.append(row)
    return sorted(rows, key=lambda r: (r["proto"], r["src"], r["sport"], r["dst"], r["dport"]))


def nat(dp: Any, names: NameIndex) -> list[Row]:
    rows = []
    for r in dp.nat():
        to_addr, _ = _addr(r.get("to"))
        rows.append(
            {
                "proto": r["proto"],
                "src": r["src"],
                "sport": r["sport"],
                "dst": r["dst"],
                "dport": r["dport"],
                "to": r.get("to", ""),
                "container": names.container_of_ip(to_addr)
                or names.container_of_ip(r["src"])
                or names.container_of_ip(r["dst"]),
                "state": r.get("state", ""),
                "idle_s": round(float(r.get("idle_s", 0.0)), 1),
            }
        )
    return sorted(rows, key=lambda r: (r["proto"], r["src"], r["sport"], r["dst"], r["dport"]))
