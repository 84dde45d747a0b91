"""Connection tracking limits: idle entries expire, tiny tables never mistranslate."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from controller.datapath import Datapath, PortMapping
from testbed.datapath import EXT_IP, NODE_IP, DatapathTopology, close_datapath
from testbed.procs import PY, netns_exec
from testbed.topology import Container

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

TABLE = 32  # entries in hawser_ct and hawser_nat for this node

# Opens many UDP flows at once (one socket each), then checks every echo carries its own payload.
MANY_FLOWS = textwrap.dedent(
    r"""
    import json, selectors, socket, sys, time
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sel = selectors.DefaultSelector()
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
        s.sendto(f"flow-{i}".encode(), (host, port)); sel.register(s, selectors.EVENT_READ, i)
    good = wrong = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and good + wrong < count:
        for key, _ in sel.select(timeout=0.2):
            reply = json.loads(key.fileobj.recv(4096))
            sel.unregister(key.fileobj)
            if reply["data"] == f"flow-{key.data}":
                good += 1
            else:
                wrong += 1
    print(json.dumps({"good": good, "wrong": wrong, "lost": count - good - wrong}))
    """
)


@pytest.fixture(scope="module")
def small() -> Iterator[tuple[DatapathTopology, Datapath, Container]]:
    topo = DatapathTopology()
    ipr = dp = None
    try:
        dp, ipr = topo.start_datapath(map_sizes={"ct": TABLE, "nat": TABLE})
        c = topo.add_container("172.20.0.2", 1)
        dp.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
        topo.server(topo.ext, "udp", 9000)
        yield topo, dp, c
    finally:
        close_datapath(dp, ipr)
        topo.close()


def _age_everything(dp: Datapath) -> None:
    """Pretend every tracked flow was last seen at boot."""
    for name in ("hawser_ct", "hawser_nat"):
        table = dp._t(name)
        for key, value in list(table.items()):
            value.seen_ns = ctypes.c_uint64(1).value
            table[key] = value


def test_idle_flows_expire_and_gc_removes_them(
    small: tuple[DatapathTopology, Datapath, Container],
) -> None:
    topo, dp, c = small
    r = topo.client(c.name, "udp", EXT_IP, 9000, "before")
    assert r["reply"]["data"] == "before" and r["reply"]["peer"][0] == NODE_IP
    assert dp.ct() and dp.nat()
    _age_everything(dp)
    removed = dp.gc()
    assert removed >= 2
    assert dp.ct() == [] and dp.nat() == []
    # a new flow is tracked afresh and survives a gc
    r = topo.client(c.name, "udp", EXT_IP, 9000, "after")
    assert r["reply"]["data"] == "after"
    assert dp.gc() == 0 and dp.nat()


def test_tables_smaller_than_the_flows_never_mistranslate(
    small: tuple[DatapathTopology, Datapath, Container],
) -> None:
    topo, dp, c = small
    flows = TABLE * 4
    out = subprocess.run(
        [*netns_exec(c.name), PY, "-c", MANY_FLOWS, EXT_IP, "9000", str(flows)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["wrong"] == 0  # a reply never reaches another flow's socket
    assert result["good"] > 0
    assert result["good"] + result["lost"] == flows
    # what found no room is a counted drop, not a silent loss
    drops = {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}
    assert drops[("from_container", "ct_full")] == result["lost"]
    caps = {m["name"]: (m["entries"], m["capacity"]) for m in dp.maps()}
    assert caps["hawser_ct"][0] <= caps["hawser_ct"][1] == TABLE
    assert caps["hawser_nat"][0] <= caps["hawser_nat"][1] == TABLE


def test_a_redirect_the_kernel_refuses_is_a_counted_drop(
    small: tuple[DatapathTopology, Datapath, Container],
) -> None:
    """An endpoint entry whose veth index is unusable: the published port's packets are
    counted as `redirect` drops, never as forwarded. Control: the same port answers first."""
    topo, dp, c = small
    topo.server(c.name, "udp", 9100)
    dp.add_ports([PortMapping("udp", "0.0.0.0", 19100, c.ip, 9100, c.ifindex)])
    try:
        assert topo.client(topo.ext, "udp", NODE_IP, 19100, "first")["reply"]["data"] == "first"
        eps = dp._t("hawser_endpoints")
        key = eps.Key(int.from_bytes(bytes(map(int, c.ip.split("."))), "little"))  # network order
        leaf = eps[key]
        leaf.ifindex = 0
        eps[key] = leaf
        drops = {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}
        forwarded = drops[("from_uplink", "forwarded")]
        r = topo.client(topo.ext, "udp", NODE_IP, 19100, "second", timeout=1)
        assert "error" in r
        after = {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}
        assert after[("from_uplink", "redirect")] == drops[("from_uplink", "redirect")] + 1
        assert after[("from_uplink", "forwarded")] == forwarded
    finally:
        dp.attach_endpoint(c.ifindex, c.ip, c.mac, 1)  # the module's other tests use it
        dp.delete_ports([PortMapping("udp", "0.0.0.0", 19100, c.ip, 9100, c.ifindex)])
