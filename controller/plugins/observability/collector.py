"""The Prometheus collector that reads the BPF maps at scrape time.

Nothing is copied into Python between scrapes: every sample comes from the
datapath's maps at the moment Prometheus asks, and series exist only for what
exists (a removed container's endpoint and port series disappear with it).
Conntrack entries are counted, never decoded: a scrape's cost must not grow
with the per-entry work of ``Datapath.ct()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller import __version__
from controller.errors import DatapathUnavailable

from .names import NameIndex, snapshot

if TYPE_CHECKING:
    from controller.ops.node import Node

log = logging.getLogger(__name__)

PORT_LABELS = ["proto", "host_ip", "host_port", "container"]
ENDPOINT_LABELS = ["container", "network"]
CT_MAP, NAT_MAP = "hawser_ct", "hawser_nat"


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
        self.port_conns = CounterMetricFamily(
            "hawser_port_connections", "New flows to a published port", labels=PORT_LABELS
        )
        self.port_packets = CounterMetricFamily(
            "hawser_port_packets", "Packets to a published port", labels=PORT_LABELS
        )
        self.port_bytes = CounterMetricFamily(
            "hawser_port_bytes", "Bytes to a published port", labels=PORT_LABELS
        )
        self.ep = {
            f"{d}_{u}": CounterMetricFamily(
                f"hawser_endpoint_{d}_{u}",
                f"{u.capitalize()} {'received from' if d == 'rx' else 'sent by'} the container"
                " on this endpoint (seen at its host-side veth)",
                labels=ENDPOINT_LABELS,
            )
            for d in ("rx", "tx")
            for u in ("packets", "bytes")
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

    def all(self) -> list[Metric]:
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
            *self.ep.values(),
            self.ct_entries,
            self.nat_entries,
            self.map_entries,
            self.map_pressure,
        ]


def fill(f: Families, dp: Any, names: NameIndex) -> None:
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

    stats = {(s["proto"], s["host_ip"], int(s["host_port"])): s for s in dp.port_stats()}
    for p in dp.ports():
        key = (p["proto"], p["host_ip"], int(p["host_port"]))
        owner = names.port_owner.get(key) or names.container_of_ip(p["backend_ip"])
        labels = [p["proto"], p["host_ip"], str(p["host_port"]), owner]
        s = stats.get(key, {})
        f.port_conns.add_metric(labels, s.get("conns", 0))
        f.port_packets.add_metric(labels, s.get("packets", 0))
        f.port_bytes.add_metric(labels, s.get("bytes", 0))

    ep_stats = {int(s["ifindex"]): s for s in dp.endpoint_stats()}
    for e in dp.endpoints():
        ep = names.by_ip.get(e["ip"])
        network = names.network_by_key.get(int(e["network"]), str(e["network"]))
        labels = [ep.container if ep else e["ip"], network]
        s = ep_stats.get(int(e["ifindex"]), {})
        for field, family in f.ep.items():
            family.add_metric(labels, s.get(field, 0))

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

    def describe(self) -> Iterator[Metric]:
        return iter(Families().all())

    @staticmethod
    def _empty() -> Families:
        f = Families()
        f.build_info.add_metric([__version__], 1)
        return f

    def collect(self) -> Iterator[Metric]:
        f = self._empty()
        started = time.perf_counter()
        try:
            fill(f, self.node.datapath, self.index(self.node))
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
        return iter(f.all() + more)
