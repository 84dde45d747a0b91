"""install(): metrics listener, operation histogram, /v1/bpf and /v1/monitor routes, event hub."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from controller.api.server import Request, Router, Stream
from controller.errors import HawserError, InvalidArgument, NotFound
from controller.ops.node import Node
from controller.plugins import observability
from controller.plugins.observability.monitor import EventHub, decorate
from controller.plugins.observability.names import snapshot
from controller.plugins.observability.server import parse_address
from tests.unit.test_observability_tables import CLI, WEB, make_node


def raw_event(**kw: Any) -> dict[str, Any]:
    event = {"ts_ns": time.monotonic_ns(), "ifindex": 6, "direction": "from_container",
             "verdict": "drop", "reason": "icc", "proto": "tcp", "src": "172.18.0.2",
             "sport": 40000, "dst": "172.18.0.3", "dport": 80, "len": 74}  # fmt: skip
    event.update(kw)
    return event


def request(path: str, **query: str) -> Request:
    return Request("GET", path, {}, query, {})


def routes(node: Node) -> Router:
    router = Router()
    for extra in node.extra_routes:
        extra(router, node)
    return router


def call(router: Router, path: str, **query: str) -> Any:
    found = router.match("GET", path)
    assert found is not None, path
    return found[0].handler(request(path, **query))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("127.0.0.1:9323", ("127.0.0.1", 9323)),
        (":9323", ("0.0.0.0", 9323)),
        ("[::1]:0", ("::1", 0)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9323", "localhost:9323", "127.0.0.1:http", "1.2.3.4:70000"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid metrics address"):
        parse_address(text)


def test_install_serves_metrics_and_operations(tmp_path: Path) -> None:
    node = make_node(tmp_path, "127.0.0.1:0")
    observability.install(node)
    try:
        host, port = node.metrics_address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        node.observe("network_create", 0.02, False)
        node.observe("container_remove", 0.003, True)
        body = urllib.request.urlopen(f"http://{node.metrics_address}/metrics", timeout=5).read()
        text = body.decode()
        assert 'hawser_operation_duration_seconds_count{operation="network_create"} 1.0' in text
        assert 'hawser_operation_errors_total{operation="network_create"} 0.0' in text
        assert 'hawser_operation_errors_total{operation="container_remove"} 1.0' in text
        assert 'hawser_drop_count_total{direction="from_container",reason="icc"} 4.0' in text
        assert "hawser_monitor_streams 0.0" in text
        # counters and histograms come without their `_created` timestamps
        assert "_created" not in text, [ln for ln in text.splitlines() if "_created" in ln]
        assert "hawser_process_resident_memory_bytes" in text
    finally:
        node.emit("stopping")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{node.metrics_address}/metrics", timeout=2)


def test_install_with_metrics_off(tmp_path: Path) -> None:
    node = make_node(tmp_path, "")
    observability.install(node)
    assert node.metrics_address == ""
    assert len(node.extra_routes) == 1


def test_install_refuses_a_busy_port(tmp_path: Path) -> None:
    first = make_node(tmp_path / "a", "127.0.0.1:0")
    observability.install(first)
    try:
        second = make_node(tmp_path / "b", first.metrics_address)
        with pytest.raises(HawserError, match="address already in use"):
            observability.install(second)
    finally:
        first.emit("stopping")


def test_bpf_routes(node_installed: Node) -> None:
    router = routes(node_installed)
    for name in ("maps", "ports", "nat", "policy", "endpoints", "stats", "ct"):
        rows = call(router, f"/v1/bpf/{name}")
        assert isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows), name
    assert len(call(router, "/v1/bpf/ct", proto="icmp")) == 1
    with pytest.raises(InvalidArgument):
        call(router, "/v1/bpf/ct", port="99999")
    assert {r.pattern for r in router.routes} >= {"/v1/monitor", "/v1/bpf/ct"}
    assert "/v1/bpf/maps" in router.openapi()["paths"]


def streams(node: Node) -> float:
    text = urllib.request.urlopen(f"http://{node.metrics_address}/metrics", timeout=5).read()
    line = next(ln for ln in text.decode().splitlines() if ln.startswith("hawser_monitor_streams "))
    return float(line.split()[1])


@pytest.fixture
def node_installed(tmp_path: Path) -> Any:
    node = make_node(tmp_path, "127.0.0.1:0")
    observability.install(node)
    yield node
    node.emit("stopping")


def test_monitor_stream_filters_and_ends(node_installed: Node) -> None:
    router = routes(node_installed)
    with pytest.raises(NotFound, match="No such container: nope"):
        call(router, "/v1/monitor", container="nope")
    with pytest.raises(InvalidArgument, match="invalid event type: all"):
        call(router, "/v1/monitor", type="all")
    result = call(router, "/v1/monitor", type="drop", container="cli")
    assert isinstance(result, Stream)
    items = iter(result.items)
    assert next(items)["type"] == "subscribed"  # registered before the first line is sent
    assert streams(node_installed) == 1
    first = next(items)  # nothing yet: a heartbeat keeps the connection checked
    assert first["type"] == "heartbeat"
    dp = node_installed.datapath
    dp.events += [  # type: ignore[attr-defined]
        raw_event(verdict="forward", reason="forwarded"),  # a trace: filtered out by type
        raw_event(ifindex=99, src="10.9.9.9", dst="10.9.9.8"),  # another container's drop
        raw_event(),
    ]
    event = next(e for e in items if e["type"] != "heartbeat")
    assert (event["reason"], event["container"], event["ifname"]) == ("icc", "cli", "hwvcli")
    assert (event["src_container"], event["dst_container"]) == ("cli", "web")
    assert abs(event["time"] - time.time()) < 5
    assert streams(node_installed) == 1
    items.close()  # type: ignore[attr-defined]  # what the API does when the client went away
    assert streams(node_installed) == 0
    other = call(router, "/v1/monitor")
    assert streams(node_installed) == 1
    node_installed.emit("stopping")  # the daemon stops: open streams end
    assert [e["type"] for e in other.items][:1] == ["subscribed"]


def test_hub_counts_subscribers_and_stops(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    hub = EventHub(node)
    sub = hub.subscribe(None, CLI)
    stream = hub.stream(sub, heartbeat=0.05)
    assert hub.count() == 1
    node.datapath.events.append(raw_event())  # type: ignore[attr-defined]
    assert next(stream)["type"] == "subscribed"
    assert next(e for e in stream if e["type"] != "heartbeat")["reason"] == "icc"
    hub.close()
    rest = list(stream)  # ends: the hub stopped
    assert all(e["type"] == "heartbeat" for e in rest)
    assert hub.count() == 0


def test_decorate_matches_containers(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    event, involved = decorate(raw_event(), snapshot(node))
    assert involved == {CLI, WEB}
    assert event["type"] == "drop" and event["verdict"] == "drop"
    trace, involved = decorate(raw_event(verdict="forward", ifindex=12, src="10.1.0.2",
                                         dst="10.1.0.1"), snapshot(node))  # fmt: skip
    assert trace["type"] == "trace" and trace["ifname"] == "up0" and involved == set()
