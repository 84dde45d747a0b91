"""Operator views without a kernel: published-port series per binding, trace sampling
rates, both ends of an event named, ``GET /v1/info``.

Uses the fake datapath and store of ``test_observability_tables``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from controller.api import system_info
from controller.api.server import Request
from controller.daemon.config import load
from controller.errors import InvalidArgument
from controller.ops.node import Node
from controller.plugins import observability
from controller.plugins.observability.collector import port_groups
from controller.plugins.observability.monitor import EventHub, decorate, effective_rate
from controller.plugins.observability.names import snapshot
from controller.rules.portspec import PortBinding
from tests.unit.test_observability_service import raw_event, routes
from tests.unit.test_observability_tables import CLI, WEB, make_node, scrape

RANGE = 20_000


def _port(port: int, backend: int, ip: str = "172.18.0.3", host_ip: str = "0.0.0.0") -> Any:
    return {"proto": "tcp", "host_ip": host_ip, "host_port": port, "backend_ip": ip,
            "backend_port": backend, "ifindex": 7}  # fmt: skip


def _ranged(node: Node, detail: bool = False, size: int = RANGE) -> Node:
    """web publishes 8080:80 and 20000-39999:20000-39999 (``size`` ports), with traffic on
    8080 and both ends of the range."""
    last = 20000 + size - 1
    bound = [PortBinding.bound("tcp", p, "0.0.0.0", p) for p in range(20000, last + 1)]
    node.store.add_bindings(WEB, bound)
    rows = [_port(8080, 80)] + [_port(p, p) for p in range(20000, last + 1)]
    node.datapath.ports = lambda: [dict(r) for r in rows]  # type: ignore[method-assign]
    stats = [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": p, "conns": 1, "packets": 10,
              "bytes": 1000} for p in (8080, 20000, last)]  # fmt: skip
    node.datapath.port_stats = lambda: stats  # type: ignore[method-assign]
    if detail:
        node.config = load({"metrics_port_detail": "true"}, {}, None)
    return node


def test_a_port_range_is_one_series_per_metric(tmp_path: Path) -> None:
    node = _ranged(make_node(tmp_path))
    started = time.perf_counter()
    m = scrape(node)
    took = time.perf_counter() - started
    ports = {ls: v for (name, ls), v in m.items() if name == "hawser_port_bytes_total"}
    assert len(ports) == 2, ports  # 8080 and the range, not 20,001
    ranged = (("container", "web"), ("container_port", "20000-39999"), ("host_ip", "0.0.0.0"),
              ("host_port", "20000-39999"), ("proto", "tcp"))  # fmt: skip
    assert ports[ranged] == 2000  # both ports' traffic, summed
    assert m[("hawser_port_connections_total", ranged)] == 2
    series = [name for name, _ in m if name.startswith("hawser_port")]
    assert len(series) == 6 and not any("detail" in n for n in series)
    print(f"scrape with a {RANGE}-port range: {took * 1000:.0f} ms")


def test_per_port_detail_is_opt_in(tmp_path: Path) -> None:
    node = _ranged(make_node(tmp_path), detail=True, size=2000)
    m = scrape(node)
    detail = {ls: v for (name, ls), v in m.items() if name == "hawser_port_detail_bytes_total"}
    assert len(detail) == 2000 + 1
    one = (("container", "web"), ("host_ip", "0.0.0.0"), ("host_port", "21999"),
           ("proto", "tcp"))  # fmt: skip
    assert detail[one] == 1000
    assert len([1 for (name, _) in m if name == "hawser_port_bytes_total"]) == 2  # still there


def test_port_groups_split_where_a_binding_ends() -> None:
    rows = [
        _port(8000, 80),
        _port(8001, 81),
        _port(8003, 83),  # a gap: two bindings
        _port(9000, 80),
        _port(9001, 80),  # one container port twice: not a range
        _port(7000, 70, ip="172.18.0.2"),
        _port(7001, 71),  # two containers
        _port(6000, 60, host_ip="10.1.0.1"),
        _port(6001, 61),
    ]  # two addresses
    # fmt: skip
    groups, of = port_groups(rows, lambda r: "web" if r["backend_ip"] == "172.18.0.3" else "cli")
    shown = sorted(tuple(g.labels) for g in groups)
    assert shown == sorted([
        ("web", "tcp", "0.0.0.0", "8000-8001", "80-81"), ("web", "tcp", "0.0.0.0", "8003", "83"),
        ("web", "tcp", "0.0.0.0", "9000", "80"), ("web", "tcp", "0.0.0.0", "9001", "80"),
        ("cli", "tcp", "0.0.0.0", "7000", "70"), ("web", "tcp", "0.0.0.0", "7001", "71"),
        ("web", "tcp", "10.1.0.1", "6000", "60"), ("web", "tcp", "0.0.0.0", "6001", "61"),
    ])  # fmt: skip
    assert of[("tcp", "0.0.0.0", 8001)] is of[("tcp", "0.0.0.0", 8000)]
    assert of[("tcp", "0.0.0.0", 8003)] is not of[("tcp", "0.0.0.0", 8001)]


# --- trace sampling ------------------------------------------------------------------------


def test_effective_rate_is_the_smallest_n_set() -> None:
    assert effective_rate(0, []) == 0
    assert effective_rate(0, [0, 0]) == 0
    assert effective_rate(100, []) == 100
    assert effective_rate(100, [10, 0]) == 10
    assert effective_rate(0, [50, 20]) == 20


def test_a_stream_raises_the_rate_while_it_is_open(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.config = load({"trace_sample_rate": "100"}, {}, None)
    hub = EventHub(node)
    dp: Any = node.datapath
    hub.set_base_rate(100)
    assert dp.rate == 100
    plain = hub.subscribe("drop", None)  # asks for no rate: changes nothing
    assert dp.rate == 100
    fine = hub.subscribe("trace", None, trace_rate=5)
    assert dp.rate == 5 and hub.settings()["EffectiveTraceSampleRate"] == 5
    assert next(hub.stream(fine))["trace_sample_rate"] == 5  # its stream says so at once
    assert dp.rate == 100  # the stream ended (closed generator): back to the node's rate
    hub.unsubscribe(plain)
    assert hub.settings() == {"TraceSampleRate": 100, "EffectiveTraceSampleRate": 100,
                              "DropEventsPerSecond": 100}  # fmt: skip
    with pytest.raises(InvalidArgument, match="invalid trace sample rate: 4294967296"):
        hub.subscribe("trace", None, trace_rate=2**32)
    assert hub.count() == 0  # refused before it was registered
    hub.close()


def test_monitor_config_routes(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    observability.install(node)
    try:
        router = routes(node)
        get = router.match("GET", "/v1/monitor/config")
        put = router.match("PUT", "/v1/monitor/config")
        assert get is not None and put is not None
        assert get[0].handler(Request("GET", "", {}, {}, {}))["TraceSampleRate"] == 0
        route = put[0]
        with pytest.raises(InvalidArgument):
            route.check_body({"TraceSampleRate": -1})
        with pytest.raises(InvalidArgument):
            route.check_body({"Rate": 3})
        route.check_body({"TraceSampleRate": 7})
        settings = route.handler(Request("PUT", "", {}, {}, {"TraceSampleRate": 7}))
        assert settings["TraceSampleRate"] == 7 and node.datapath.rate == 7  # type: ignore[attr-defined]
        monitor = router.match("GET", "/v1/monitor")
        assert monitor is not None
        with pytest.raises(InvalidArgument):
            monitor[0].check_query({"trace_sample_rate": "ten"})
    finally:
        node.emit("stopping")


def test_events_name_both_ends_even_at_a_published_address(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    names = snapshot(node)
    # from outside to web's published port 8080, seen at the uplink before translation
    event, involved = decorate(
        raw_event(verdict="forward", reason="forwarded", ifindex=12, src="10.1.0.2",
                  sport=50000, dst="10.1.0.1", dport=8080),
        names,
    )  # fmt: skip
    assert (event["src_container"], event["dst_container"]) == ("", "web")
    assert involved == {WEB}
    # positive control of the port lookup: another port of that address names nobody
    other, involved = decorate(raw_event(ifindex=12, src="10.1.0.2", dst="10.1.0.1",
                                         dport=8081), names)  # fmt: skip
    assert other["dst_container"] == "" and involved == set()
    # another host's port 8080 is not web's published port
    elsewhere, involved = decorate(raw_event(src="172.18.0.2", dst="93.184.216.34", dport=8080),
                                   names)  # fmt: skip
    assert elsewhere["dst_container"] == "" and involved == {CLI}
    both, involved = decorate(raw_event(), names)
    assert (both["src_container"], both["dst_container"]) == ("cli", "web")
    assert involved == {CLI, WEB}


# --- info ----------------------------------------------------------------------------------


def test_info_counts_and_describes_the_datapath(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    info = system_info.info(node)
    assert (info["Containers"], info["ContainersRunning"], info["ContainersStopped"]) == (2, 0, 2)
    assert info["Networks"] == 1 and info["Node"] == "main" and info["OSType"] == "linux"
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0 and info["KernelVersion"]
    progs = {p["Name"]: p for p in info["Datapath"]["Programs"]}
    assert progs["hawser_from_container"]["Links"] == 2  # the two endpoints
    assert progs["hawser_from_uplink"]["Links"] == 1  # up0
    assert "ClusterStore" not in info
    node.config = load({"cluster_store": "etcd://10.0.0.1:2379"}, {}, None)
    assert system_info.info(node)["ClusterStore"] == "etcd://10.0.0.1:2379"
