"""The Prometheus collector that reads the BPF maps at scrape time.

Nothing is copied into Python between scrapes: every sample comes from the
datapath's maps at the moment Prometheus asks, and series exist only for what
exists (a removed container's endpoint and port series disappear with it).
Conntrack entries are counted, never decoded: a scrape's cost must not grow
with the per-entry work of ``Datapath.ct()``. Published ports are exported per binding, a
port range published as one being one series (20,000 ports are 3 series, not 60,000);
``--metrics-port-detail`` adds one series per port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller import __version__
from controller.errors import DatapathUnavailable

from .names import NameIndex, snapshot

if TYPE_CHECKING:
    from controller.ops.node import Node

log = logging.getLogger(__name__)

RX_HELP = (
    "delivered to the container on this endpoint by the datapath (published-port traffic, "
    "replies to its masqueraded flows, other containers of the network on this node)"
)
TX_HELP = "sent by the container on this endpoint (seen at its host-side veth)"
DROP_HELP = (
    "sent by the container on this endpoint and dropped by the datapath (icc, isolation, "
    "internal network, …: hawser_drop_count_total has the reasons)"
)

#: A published binding: one port, or a range published as one (``-p 20000-39999:20000-39999``)
BINDING_LABELS = ["container", "proto", "host_ip", "host_port", "container_port"]
PORT_LABELS = ["proto", "host_ip", "host_port", "container"]  # --metrics-port-detail
ENDPOINT_LABELS = ["container", "network"]
CT_MAP, NAT_MAP = "hawser_ct", "hawser_nat"
PortKey = tuple[str, str, int]


@dataclass
class PortGroup:
    """Consecutive ports of one container mapped to consecutive container ports, on one
    protocol and host address: what a ``-p`` range made (``docker ps`` shows it as one)."""

    container: str
    proto: str
    host_ip: str
    low: int
    high: int
    backend_low: int
    backend_high: int
    totals: list[int] = field(default_factory=lambda: [0, 0, 0])  # conns, packets, bytes

    @property
    def labels(self) -> list[str]:
        def span(low: int, high: int) -> str:
            return str(low) if low == high else f"{low}-{high}"

        return [
            self.container, self.proto, self.host_ip,
            span(self.low, self.high), span(self.backend_low, self.backend_high),
        ]  # fmt: skip


def port_groups(
    rows: list[dict[str, Any]], owner: Callable[[dict[str, Any]], str]
) -> tuple[list[PortGroup], dict[PortKey, PortGroup]]:
    """The port map's entries merged into bindings, and each port's binding. O(n log n)."""

    def order(r: dict[str, Any]) -> tuple[str, str, str, str, int]:
        return (r["_owner"], r["proto"], r["host_ip"], r["backend_ip"], int(r["host_port"]))

    for r in rows:
        r["_owner"] = owner(r)
    groups: list[PortGroup] = []
    of: dict[PortKey, PortGroup] = {}
    last: PortGroup | None = None
    last_backend = ""
    for r in sorted(rows, key=order):
        port, backend = int(r["host_port"]), int(r["backend_port"])
        if (
            last is not None
            and (last.container, last.proto, last.host_ip)
            == (r["_owner"], r["proto"], r["host_ip"])
            and last_backend == r["backend_ip"]
            and port == last.high + 1
            and backend == last.backend_high + 1
        ):
            last.high, last.backend_high = port, backend
        else:
            last = PortGroup(r["_owner"], r["proto"], r["host_ip"], port, port, backend, backend)
            last_backend = r["backend_ip"]
            groups.append(last)
        of[(r["proto"], r["host_ip"], port)] = last
    return groups, of


class Families:
    """Every metric family the collector exports (empty; filled by DatapathCollector)."""

    def __init__(self) -> None:
        self.build_info = GaugeMetricFamily(
            "hawser_build_info", "Hawser version (value is always 1)", labels=["version"]
        )
        self.datapath_up = GaugeMetricFamily(
            "hawser_datapath_up", "1 when the BPF maps could be read for this scrape"
        )
        self.scrape_seconds = GaugeMetricFamily(
            "hawser_datapath_scrape_duration_seconds", "Time spent reading the BPF maps"
        )
        self.fwd_count = CounterMetricFamily(
            "hawser_forward_count", "Packets forwarded by the datapath", labels=["direction"]
        )
        self.fwd_bytes = CounterMetricFamily(
            "hawser_forward_bytes", "Bytes forwarded by the datapath", labels=["direction"]
        )
        self.drop_count = CounterMetricFamily(
            "hawser_drop_count", "Packets dropped by the datapath", labels=["reason", "direction"]
        )
        self.drop_bytes = CounterMetricFamily(
            "hawser_drop_bytes", "Bytes dropped by the datapath", labels=["reason", "direction"]
        )
        self.flow_events = CounterMetricFamily(
            "hawser_flow_events",
            "Flow events counted by the datapath (dnat_new, snat_new, snat_port_kept, ...)",
            labels=["event"],
        )
        self.tunnel_packets = CounterMetricFamily(
            "hawser_tunnel_packets",
            "Overlay packets exchanged with another node (tx: sent to it, rx: received)",
            labels=["node", "direction"],
        )
        self.tunnel_bytes = CounterMetricFamily(
            "hawser_tunnel_bytes",
            "Overlay bytes exchanged with another node (tx: sent to it, rx: received)",
            labels=["node", "direction"],
        )
        what = "to a published binding (a port range published as one is one series)"
        self.port_conns = CounterMetricFamily(
            "hawser_port_connections", f"New flows {what}", labels=BINDING_LABELS
        )
        self.port_packets = CounterMetricFamily(
            "hawser_port_packets", f"Packets {what}", labels=BINDING_LABELS
        )
        self.port_bytes = CounterMetricFamily(
            "hawser_port_bytes", f"Bytes {what}", labels=BINDING_LABELS
        )
        self.port_detail = [
            CounterMetricFamily(
                f"hawser_port_detail_{unit}",
                f"{text} to one published host port (--metrics-port-detail)",
                labels=PORT_LABELS,
            )
            for unit, text in (("connections", "New flows"), ("packets", "Packets"),
                               ("bytes", "Bytes"))
        ]  # fmt: skip
        self.ep = {
            f"{d}_{u}": CounterMetricFamily(
                f"hawser_endpoint_{d}_{u}", help_text, labels=ENDPOINT_LABELS
            )
            for d, u, help_text in (
                ("rx", "packets", f"Packets {RX_HELP}"),
                ("rx", "bytes", f"Bytes {RX_HELP}"),
                ("tx", "packets", f"Packets {TX_HELP}"),
                ("tx", "bytes", f"Bytes {TX_HELP}"),
                ("drop", "packets", f"Packets {DROP_HELP}"),
                ("drop", "bytes", f"Bytes {DROP_HELP}"),
            )
        }
        self.ct_entries = GaugeMetricFamily(
            "hawser_conntrack_entries", "Entries in the conntrack map (hawser_ct)"
        )
        self.nat_entries = GaugeMetricFamily(
            "hawser_nat_entries",
            "Masqueraded connections: one SNAT reverse entry per flow (hawser_nat)",
        )
        self.map_entries = GaugeMetricFamily(
            "hawser_bpf_map_entries", "Entries in a BPF map", labels=["map_name"]
        )
        self.map_pressure = GaugeMetricFamily(
            "hawser_bpf_map_pressure", "Entries / capacity of a BPF hash map", labels=["map_name"]
        )

    def all(self, port_detail: bool = False) -> list[Metric]:
        return [
            self.build_info,
            self.datapath_up,
            self.scrape_seconds,
            self.fwd_count,
            self.fwd_bytes,
            self.drop_count,
            self.drop_bytes,
            self.flow_events,
            self.tunnel_packets,
            self.tunnel_bytes,
            self.port_conns,
            self.port_packets,
            self.port_bytes,
            *(self.port_detail if port_detail else []),
            *self.ep.values(),
            self.ct_entries,
            self.nat_entries,
            self.map_entries,
            self.map_pressure,
        ]


def _fill_ports(f: Families, dp: Any, names: NameIndex, detail: bool) -> None:
    """One series per binding (a range is one), from the port map; per port on request."""

    def owner(p: dict[str, Any]) -> str:
        key = (p["proto"], p["host_ip"], int(p["host_port"]))
        return names.port_owner.get(key) or names.container_of_ip(p["backend_ip"])

    rows = dp.ports()
    groups, of = port_groups(rows, owner)
    stats = dp.port_stats()
    for s in stats:
        group = of.get((s["proto"], s["host_ip"], int(s["host_port"])))
        if group is not None:  # else: counters of an entry deleted since (reconcile sweeps)
            group.totals[0] += s["conns"]
            group.totals[1] += s["packets"]
            group.totals[2] += s["bytes"]
    for g in groups:
        f.port_conns.add_metric(g.labels, g.totals[0])
        f.port_packets.add_metric(g.labels, g.totals[1])
        f.port_bytes.add_metric(g.labels, g.totals[2])
    if not detail:
        return
    by_port = {(s["proto"], s["host_ip"], int(s["host_port"])): s for s in stats}
    for r in rows:
        key = (r["proto"], r["host_ip"], int(r["host_port"]))
        labels = [r["proto"], r["host_ip"], str(r["host_port"]), r["_owner"]]
        s = by_port.get(key, {})
        for family, field_name in zip(f.port_detail, ("conns", "packets", "bytes"), strict=True):
            family.add_metric(labels, s.get(field_name, 0))


def fill(f: Families, dp: Any, names: NameIndex, port_detail: bool = False) -> None:
    """Fill the families from the datapath's inspection methods; raises if a map is unreadable."""
    for r in dp.stats():
        if r["reason"] == "forwarded":
            f.fwd_count.add_metric([r["direction"]], r["packets"])
            f.fwd_bytes.add_metric([r["direction"]], r["bytes"])
        else:
            f.drop_count.add_metric([r["reason"], r["direction"]], r["packets"])
            f.drop_bytes.add_metric([r["reason"], r["direction"]], r["bytes"])

    for event, count in dp.counters().items():
        f.flow_events.add_metric([event], count)
    for t in dp.tunnel_stats():
        for direction in ("tx", "rx"):
            f.tunnel_packets.add_metric([t["node"], direction], t[f"{direction}_packets"])
            f.tunnel_bytes.add_metric([t["node"], direction], t[f"{direction}_bytes"])

    _fill_ports(f, dp, names, port_detail)

    ep_stats = {int(s["ifindex"]): s for s in dp.endpoint_stats()}
    for e in dp.endpoints():
        ep = names.by_ip.get(e["ip"])
        network = names.network_by_key.get(int(e["network"]), str(e["network"]))
        labels = [ep.container if ep else e["ip"], network]
        s = ep_stats.get(int(e["ifindex"]), {})
        for stat, family in f.ep.items():
            family.add_metric(labels, s.get(stat, 0))

    for m in dp.maps():
        f.map_entries.add_metric([m["name"]], m["entries"])
        if "array" not in m["type"] and m["capacity"]:
            f.map_pressure.add_metric([m["name"]], m["entries"] / m["capacity"])
        if m["name"] == CT_MAP:
            f.ct_entries.add_metric([], m["entries"])
        elif m["name"] == NAT_MAP:
            f.nat_entries.add_metric([], m["entries"])


class DatapathCollector(Collector):
    def __init__(self, node: Node, index: Callable[[Node], NameIndex] = snapshot) -> None:
        self.node = node
        self.index = index
        self.port_detail = bool(getattr(node.config, "metrics_port_detail", False))

    def describe(self) -> Iterator[Metric]:
        return iter(Families().all(self.port_detail))

    @staticmethod
    def _empty() -> Families:
        f = Families()
        f.build_info.add_metric([__version__], 1)
        return f

    def collect(self) -> Iterator[Metric]:
        f = self._empty()
        started = time.perf_counter()
        try:
            fill(f, self.node.datapath, self.index(self.node), self.port_detail)
            up = 1
        except DatapathUnavailable as exc:  # not started yet, or shutting down
            log.debug("BPF maps unavailable for /metrics: %s", exc)
            f, up = self._empty(), 0
        except Exception as exc:  # a scrape never fails: it reports the datapath as down
            log.warning("reading the BPF maps for /metrics failed: %s", exc)
            f, up = self._empty(), 0
        f.datapath_up.add_metric([], up)
        f.scrape_seconds.add_metric([], time.perf_counter() - started)
        more: list[Metric] = []
        for source in self.node.metric_sources:  # plugins' families (the cluster's)
            try:
                more.extend(source())
            except Exception as exc:  # a scrape never fails
                log.warning("a metrics source failed: %s", exc)
        return iter(f.all(self.port_detail) + more)
