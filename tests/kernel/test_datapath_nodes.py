"""Two Datapaths (two nodes) on one machine must not interfere: separate pins,
separate maps, sock hooks acting only in their own node's netns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from controller.datapath import Datapath, PortMapping
from testbed.datapath import EXT_IP, NODE_IP, DatapathTopology, close_datapath

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def two_nodes() -> Iterator[list[tuple[DatapathTopology, Datapath, Any]]]:
    made: list[tuple[DatapathTopology, Datapath, Any]] = []
    try:
        for i in range(2):
            topo = DatapathTopology()
            made.append((topo, None, None))  # type: ignore[arg-type]
            dp, ipr = topo.start_datapath(map_sizes={"ct": 4096 * (i + 1)})
            made[-1] = (topo, dp, ipr)
            # same published port on both nodes, different backends
            c = topo.add_container(f"172.20.0.{10 + i}")
            dp.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
            dp.add_ports([PortMapping("tcp", "0.0.0.0", 8080, c.ip, 80, c.ifindex)])
            topo.server(c.name, "tcp", 80)
        yield made
    finally:
        for topo, dp, ipr in made:
            close_datapath(dp, ipr)
            topo.close()


def test_nodes_do_not_interfere(two_nodes: list[tuple[DatapathTopology, Datapath, Any]]) -> None:
    for i, (topo, dp, _) in enumerate(two_nodes):
        backend = f"172.20.0.{10 + i}"
        assert [p["backend_ip"] for p in dp.ports()] == [backend]
        caps = {m["name"]: m["capacity"] for m in dp.maps()}
        assert caps["hawser_ct"] == 4096 * (i + 1)  # map_sizes override
        assert all(topo.prefix in m["pin_path"] for m in dp.maps())
        r = topo.client(topo.node, "tcp", "127.0.0.1", 8080, nsenter=True)
        assert r.get("peername") == ["127.0.0.1", 8080], r
        r = topo.client(topo.ext, "tcp", NODE_IP, 8080)
        assert r["reply"]["peer"][0] == EXT_IP
        sock = {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}
        assert sock[("sock", "forwarded")] == 1  # only its own node's client was rewritten
