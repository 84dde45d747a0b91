"""Observability without a kernel: name resolution, /v1/bpf rows and the map collector.

A fake datapath returns rows shaped like ``controller.datapath.Datapath``'s
inspection methods; the names come from a real (temporary) Store.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from controller.daemon.config import load
from controller.errors import DatapathUnavailable, HawserError, InvalidArgument
from controller.ops.node import Node
from controller.plugins.observability import inspect
from controller.plugins.observability.collector import DatapathCollector
from controller.plugins.observability.names import NameSource, snapshot
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding
from controller.store.sqlite import Store

WEB, CLI = "a" * 64, "b" * 64
NET = "c" * 64


class FakeDatapath:
    """Rows as the real Datapath decodes them (see controller/datapath/datapath.py)."""

    def __init__(self) -> None:
        self.started = True
        self.rate = 0
        self.events: list[dict[str, Any]] = []
        self.callback: Any = None
        self.eps = [
            {"ip": "172.18.0.2", "ifindex": 6, "network": 2, "mac": "02:42:ac:12:00:02"},
            {"ip": "172.18.0.3", "ifindex": 7, "network": 2, "mac": "02:42:ac:12:00:03"},
        ]

    def _check(self) -> None:
        if not self.started:
            raise DatapathUnavailable("the datapath is not started")

    def stats(self) -> list[dict[str, Any]]:
        self._check()
        rows = []
        for d in ("from_uplink", "from_container", "sock"):
            for r in ("forwarded", "icc", "isolation"):
                n = {"forwarded": 100, "icc": 4, "isolation": 0}[r] if d == "from_container" else 0
                rows.append({"direction": d, "reason": r, "packets": n, "bytes": n * 74})
        return rows

    def maps(self) -> list[dict[str, Any]]:
        self._check()
        return [
            {"name": "hawser_ct", "type": "lru_hash", "entries": 3, "capacity": 100,
             "pin_path": "/sys/fs/bpf/hawser/x/v1/hawser_ct"},
            {"name": "hawser_nat", "type": "lru_hash", "entries": 1, "capacity": 100,
             "pin_path": "/sys/fs/bpf/hawser/x/v1/hawser_nat"},
            {"name": "hawser_stats", "type": "percpu_array", "entries": 33, "capacity": 33,
             "pin_path": "/sys/fs/bpf/hawser/x/v1/hawser_stats"},
        ]  # fmt: skip

    def ports(self) -> list[dict[str, Any]]:
        self._check()
        return [
            {"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "backend_ip": "172.18.0.3",
             "backend_port": 80, "ifindex": 7},
        ]  # fmt: skip

    def port_stats(self) -> list[dict[str, Any]]:
        return [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "conns": 2,
                 "packets": 12, "bytes": 900}]  # fmt: skip

    def endpoints(self) -> list[dict[str, Any]]:
        self._check()
        return list(self.eps)

    def endpoint_stats(self) -> list[dict[str, Any]]:
        return [{"ifindex": 7, "rx_packets": 6, "rx_bytes": 482, "tx_packets": 5, "tx_bytes": 999,
                 "drop_packets": 2, "drop_bytes": 148}]  # fmt: skip

    def policy(self) -> list[dict[str, Any]]:
        return [{"src": "172.18.0.2", "dst": "172.18.0.3", "proto": "tcp", "dport": 80}]

    def ct(self) -> list[dict[str, Any]]:
        self._check()
        base = {"hairpin_snat": False, "age_s": 1.23, "idle_s": 0.5, "packets": 3, "bytes": 300}
        return [
            {**base, "proto": "tcp", "src": "172.18.0.3", "sport": 80, "dst": "10.1.0.2",
             "dport": 40000, "type": "dnat", "state": "established",
             "nat_src": "10.1.0.1:8080", "nat_dst": "10.1.0.2:40000", "ifindex": 7},
            {**base, "proto": "udp", "src": "172.18.0.2", "sport": 5000, "dst": "10.1.0.2",
             "dport": 53, "type": "snat", "state": "new", "nat_src": "10.1.0.1:33000",
             "nat_dst": None, "ifindex": 6},
            {**base, "proto": "icmp", "src": "172.18.0.2", "sport": 7, "dst": "10.1.0.2",
             "dport": 0, "type": "snat", "state": "new", "nat_src": "10.1.0.1:41000",
             "nat_dst": None, "ifindex": 6},
        ]  # fmt: skip

    def nat(self) -> list[dict[str, Any]]:
        row = {"proto": "udp", "src": "10.1.0.2", "sport": 53, "dst": "10.1.0.1", "dport": 33000}
        return [{**row, "to": "172.18.0.2:5000", "state": "new", "idle_s": 0.25}]

    def counters(self) -> dict[str, int]:
        return {"dnat_new": 2, "snat_new": 5, "snat_port_kept": 4, "snat_closed_reused": 1,
                "node_moved": 0}  # fmt: skip

    def tunnel(self) -> list[dict[str, Any]]:
        return [{"ip": "10.0.0.3", "node": "198.18.0.2", "vni": 256, "mac": "02:42:0a:00:00:03"}]

    def tunnel_stats(self) -> list[dict[str, Any]]:
        return [{"node": "198.18.0.2", "tx_packets": 9, "tx_bytes": 900, "rx_packets": 7,
                 "rx_bytes": 700}]  # fmt: skip

    def set_trace_rate(self, rate: int) -> None:
        self._check()
        self.rate = rate

    def trace_rate(self) -> int:
        return self.rate

    def describe(self) -> dict[str, Any]:
        return {"PinPath": "/sys/fs/bpf/hawser/x/v4", "Maps": 18, "CompileSeconds": 1.5,
                "CgroupPath": "/sys/fs/cgroup", "SockHooks": ["hawser_connect4"],
                "TraceSampleRate": self.rate, "TunnelDevice": 0}  # fmt: skip

    def open_events(self, callback: Any) -> None:
        self._check()
        self.callback = callback

    def poll_events(self, timeout_ms: int) -> None:
        import time

        if self.callback is None:
            raise HawserError("open_events() first")
        while self.events:
            self.callback(self.events.pop(0))
        time.sleep(timeout_ms / 1000 / 10)


def make_node(tmp_path: Path, metrics_address: str = "") -> Node:
    store = Store(tmp_path / "hawser.db")
    store.put_network(Network(NET, "noicc", 2, "bridge", "now", "172.18.0.0/16", "172.18.0.1"))
    for cid, name, ip, ifname in (
        (CLI, "cli", "172.18.0.2", "hwvcli"),
        (WEB, "web", "172.18.0.3", "hwvweb"),
    ):
        store.put_container(Container(cid, name, "now", "noicc", name, "hw-x-" + cid[:12]))
        mac, gateway = "02:42:00:00:00:00", "172.18.0.1"
        store.put_endpoint(Endpoint("e" + cid[1:], cid, NET, "eth0", ifname, ip, 16, mac, gateway))
    store.add_bindings(WEB, [PortBinding.bound("tcp", 80, "0.0.0.0", 8080)])
    cfg = load({"metrics_address": metrics_address}, {}, None)
    node = Node(config=cfg, store=store, ipr=None, datapath=FakeDatapath(), supervisor=None)  # type: ignore[arg-type]
    node.uplinks["up0"] = (12, "10.1.0.1")
    return node


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return make_node(tmp_path)


def test_snapshot_resolves_ips_ifindexes_ports_and_uplinks(node: Node) -> None:
    names = snapshot(node)
    assert names.container_of_ip("172.18.0.3") == "web"
    assert names.container_of_ifindex(6) == "cli"
    assert names.ifname(7) == "hwvweb" and names.ifname(12) == "up0" and names.ifname(99) == "99"
    assert names.port_owner[("tcp", "0.0.0.0", 8080)] == "web"
    assert names.network_by_key[2] == "noicc"


def test_snapshot_survives_a_stopped_datapath(node: Node) -> None:
    node.datapath.started = False  # type: ignore[attr-defined]
    names = snapshot(node)
    assert names.container_of_ip("172.18.0.2") == "cli" and names.by_ifindex == {}


def test_rows_carry_names_and_counters(node: Node) -> None:
    names, dp = snapshot(node), node.datapath
    [port] = inspect.ports(dp, names)
    assert (port["container"], port["ifname"], port["conns"], port["bytes"]) == (
        "web",
        "hwvweb",
        2,
        900,
    )
    eps = {e["container"]: e for e in inspect.endpoints(dp, names)}
    assert eps["web"]["network"] == "noicc" and eps["web"]["rx_bytes"] == 482
    assert eps["cli"]["rx_bytes"] == 0  # no stats entry yet: zero, not missing
    [rule] = inspect.policy(dp, names)
    assert (rule["src_container"], rule["dst_container"]) == ("cli", "web")
    maps = {m["name"]: m for m in inspect.maps(dp, names)}
    assert maps["hawser_ct"]["pressure"] == 0.03 and maps["hawser_stats"]["pressure"] is None
    [nat] = inspect.nat(dp, names)
    assert nat["container"] == "cli"
    events = {r["event"]: r["count"] for r in inspect.counters(dp, names)}
    assert events["snat_new"] == 5 and events["snat_port_kept"] == 4
    [remote] = inspect.tunnel(dp, names)
    assert (remote["ip"], remote["vni"], remote["node"], remote["node_tx_packets"]) == (
        "10.0.0.3", 256, "198.18.0.2", 9,
    )  # fmt: skip
    icc = [r for r in inspect.stats(dp, names) if r["reason"] == "icc" and r["packets"]]
    assert icc == [{"direction": "from_container", "reason": "icc", "verdict": "drop",
                    "packets": 4, "bytes": 296}]  # fmt: skip


def test_stats_hide_zero_rows_unless_all(node: Node) -> None:
    names, dp = snapshot(node), node.datapath
    shown = {(r["direction"], r["reason"]) for r in inspect.stats(dp, names)}
    assert shown == {("from_container", "forwarded"), ("from_container", "icc")}
    every = inspect.stats(dp, names, show_all=True)
    assert len(every) == 9 and ("from_uplink", "isolation") in {
        (r["direction"], r["reason"]) for r in every
    }  # the zero rows exist: only hidden


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, 3),
        ({"proto": "tcp"}, 1),
        ({"addr": "10.1.0.1"}, 3),  # the translated side matches too
        ({"addr": "172.18.0.3", "port": "80"}, 1),
        ({"port": "8080"}, 1),
        ({"port": "33000", "proto": "udp"}, 1),
        ({"addr": "172.18.0.9"}, 0),
    ],
)
def test_ct_filters(node: Node, query: dict[str, str], expected: int) -> None:
    rows = inspect.ct(node.datapath, snapshot(node), inspect.CtFilter(query))
    assert len(rows) == expected


def test_ct_rows_show_each_flow_in_its_original_direction(node: Node) -> None:
    [row] = inspect.ct(node.datapath, snapshot(node), inspect.CtFilter({"port": "8080"}))
    # the key is the backend's reply (172.18.0.3:80 -> 10.1.0.2:40000): shown as opened
    assert (row["src"], row["sport"], row["dst"], row["dport"]) == ("10.1.0.2", 40000,
                                                                    "10.1.0.1", 8080)  # fmt: skip
    assert (row["backend"], row["nat_src"]) == ("172.18.0.3:80", "")
    assert (row["src_container"], row["dst_container"]) == ("", "web")
    assert (row["ifname"], row["age_s"]) == ("hwvweb", 1.2)
    [snat] = inspect.ct(node.datapath, snapshot(node), inspect.CtFilter({"proto": "udp"}))
    assert (snat["src"], snat["sport"], snat["dst"], snat["dport"]) == ("172.18.0.2", 5000,
                                                                        "10.1.0.2", 53)  # fmt: skip
    assert (snat["nat_src"], snat["backend"], snat["src_container"]) == ("10.1.0.1:33000", "",
                                                                         "cli")  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # a container reaching its own published port: seen by itself as from its gateway
        ({"type": "dnat", "src": "172.18.0.3", "sport": 80, "dst": "172.18.0.1", "dport": 41000,
          "nat_src": "10.1.0.1:8080", "nat_dst": "172.18.0.3:41000", "hairpin_snat": True},
         ("172.18.0.3", 41000, "10.1.0.1", 8080, "172.18.0.3:80", "172.18.0.1:41000")),
        # an icc-allowed flow is keyed by its reply
        ({"type": "allow", "src": "172.18.0.3", "sport": 80, "dst": "172.18.0.2",
          "dport": 41000, "nat_src": None, "nat_dst": None},
         ("172.18.0.2", 41000, "172.18.0.3", 80, "", "")),
        # the node's own flow moved to another port
        ({"type": "node_snat", "src": "10.1.0.1", "sport": 40000, "dst": "10.1.0.2",
          "dport": 53, "nat_src": "10.1.0.1:61001", "nat_dst": None},
         ("10.1.0.1", 40000, "10.1.0.2", 53, "", "10.1.0.1:61001")),
    ],
)  # fmt: skip
def test_original_direction_of_every_entry_type(
    raw: dict[str, Any], shown: tuple[Any, ...]
) -> None:
    row = inspect.original_direction({"proto": "tcp", "state": "established", **raw})
    assert (row["src"], row["sport"], row["dst"], row["dport"], row["backend"],
            row["nat_src"]) == shown  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"addr": "nonsense"}, "invalid IP address: nonsense"),
        ({"port": "0"}, "invalid port: 0"),
        ({"port": "http"}, "invalid port: http"),
        ({"proto": "sctp"}, "invalid proto: sctp"),
    ],
)
def test_ct_filter_errors(query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        inspect.CtFilter(query)


def scrape(node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(DatapathCollector(node))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_collector_exports_datapath_counters(node: Node) -> None:
    m = scrape(node)
    assert m[("hawser_forward_count_total", (("direction", "from_container"),))] == 100
    assert m[("hawser_drop_count_total", (("direction", "from_container"), ("reason", "icc")))] == 4
    assert (
        m[("hawser_drop_bytes_total", (("direction", "from_container"), ("reason", "icc")))] == 296
    )
    port = (("container", "web"), ("container_port", "80"), ("host_ip", "0.0.0.0"),
            ("host_port", "8080"), ("proto", "tcp"))  # fmt: skip
    assert m[("hawser_port_connections_total", port)] == 2
    assert m[("hawser_port_bytes_total", port)] == 900
    web = (("container", "web"), ("network", "noicc"))
    assert m[("hawser_endpoint_drop_packets_total", web)] == 2
    assert m[("hawser_endpoint_drop_bytes_total", web)] == 148
    assert (
        m[("hawser_endpoint_tx_bytes_total", (("container", "web"), ("network", "noicc")))] == 999
    )
    assert (
        m[("hawser_endpoint_rx_packets_total", (("container", "cli"), ("network", "noicc")))] == 0
    )
    assert m[("hawser_flow_events_total", (("event", "snat_closed_reused"),))] == 1
    tx = (("direction", "tx"), ("node", "198.18.0.2"))
    assert (
        m[("hawser_tunnel_packets_total", tx)] == 9 and m[("hawser_tunnel_bytes_total", tx)] == 900
    )
    assert m[("hawser_conntrack_entries", ())] == 3
    assert m[("hawser_nat_entries", ())] == 1
    assert m[("hawser_bpf_map_pressure", (("map_name", "hawser_ct"),))] == 0.03
    assert (
        "hawser_bpf_map_pressure",
        (("map_name", "hawser_stats"),),
    ) not in m  # arrays are full by design
    assert m[("hawser_build_info", (("version", "0.1.0"),))] == 1
    assert m[("hawser_datapath_up", ())] == 1


def test_series_of_a_removed_container_disappear(node: Node) -> None:
    assert any(("container", "web") in ls for (_, ls) in scrape(node))
    node.store.delete_container(WEB)
    dp = node.datapath
    dp.eps = [e for e in dp.eps if e["ip"] != "172.18.0.3"]  # type: ignore[attr-defined]
    dp.ports = lambda: []  # type: ignore[method-assign]
    assert not any(("container", "web") in ls for (_, ls) in scrape(node))


def test_collector_reports_a_stopped_datapath_as_down(node: Node) -> None:
    node.datapath.started = False  # type: ignore[attr-defined]
    m = scrape(node)
    assert m[("hawser_datapath_up", ())] == 0
    assert m[("hawser_build_info", (("version", "0.1.0"),))] == 1
    assert not [n for (n, _) in m if n.startswith("hawser_drop")]


def test_name_source_does_not_wait_behind_a_long_operation(node: Node) -> None:
    source = NameSource(node, lock_timeout=0.2)
    first = source.get()
    holding, release = threading.Event(), threading.Event()

    def operation() -> None:
        with node.lock:
            holding.set()
            release.wait(5)

    worker = threading.Thread(target=operation)
    worker.start()
    try:
        holding.wait(5)
        started = time.monotonic()
        stale = source.get()
        assert time.monotonic() - started < 1.0
        assert stale is first and stale.container_of_ip("172.18.0.3") == "web"
    finally:
        release.set()
        worker.join()
    assert source.get() is not first  # fresh again once the lock is free
    assert source.get(max_age=60) is source.get(max_age=60)
