"""The overlay datapath between two nodes: VXLAN from the tunnel map, delivered by BPF on the
receiving node with that node's policy, ARP answered locally, drops counted.

Each test runs with the encapsulation done by the datapath itself (outer headers written and
stripped by BPF, the VXLAN device untouched), by the collect-metadata VXLAN device (BPF sets
the tunnel key), and mixed (n1 the datapath, n2 the device: the two speak the same VXLAN).

    c1 (10.0.0.2) ── n1 ── ul ──┐                    ┌── ul ── n2 ── c2 (10.0.0.3)
    c3 (10.0.1.2) ──┘   hwvx0    └── br (underlay ns) ┘    hwvx0  └── c4 (10.0.1.3)

Two overlays: net 1 (VNI 256, 10.0.0.0/24) and net 2 (VNI 257, 10.0.1.0/24). The underlay is
198.18.0.0/24 inside a netns of its own; the test also captures and injects VXLAN there.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from testbed import netns, servers
from testbed.capture import VXLAN_PORT, Capture, parse_vxlan
from testbed.datapath import close_datapath, start_datapath
from testbed.procs import PY, netns_exec
from testbed.shell import sh
from testbed.topology import Container, Underlay, attach_container
from testbed.wait import until

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

UNDERLAY = {"n1": "198.18.0.1", "n2": "198.18.0.2"}
INJECTOR = "198.18.0.9"
NETS = {1: (256, "10.0.0", "ov1"), 2: (257, "10.0.1", "ov2")}
OVERLAY_MTU = 1450


def mac_of(ip: str) -> str:
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


class Overlay:
    """Two nodes (``n1``, ``n2``) of an ``Underlay``, each with a bare Datapath, a VXLAN
    device, a bridge per overlay and containers ``c1``…``c4`` on them."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.underlay = Underlay(2, bridge_host=int(INJECTOR.rsplit(".", 1)[1]))
        self.scope = self.underlay.scope
        self.dps: dict[str, Any] = {}
        self.ctrs: dict[str, Container] = {}
        self.node_of: dict[str, str] = {}

    def ns(self, role: str) -> str:
        return self.scope.name(role)

    def run(self, role: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(*netns_exec(self.ns(role), *cmd), check=check)

    def build(self) -> None:
        for node in UNDERLAY:
            ns = self.ns(node)
            netns.sysctl(ns, "net.ipv4.ip_forward", "1")
            netns.ip(ns, "link", "add", "hwvx0", "type", "vxlan", "external",
                     "dstport", str(VXLAN_PORT), "nolearning")  # fmt: skip
            netns.up(ns, "hwvx0")
            for _vni, sub, br in NETS.values():
                netns.bridge(ns, br, f"{sub}.1/24")
            dp, ipr, _ = start_datapath(ns, f"{self.scope.tag}{node}")
            self.scope.on_close(lambda dp=dp, ipr=ipr: close_datapath(dp, ipr))
            self.dps[node] = dp
            for key in NETS:
                self.set_net(node, key, icc=True)
            if self.encaps_itself(node):
                uplink = netns.ifindex(ns, "ul")
                dp.attach_uplink(uplink, UNDERLAY[node])
                dp.attach_tunnel_device(netns.ifindex(ns, "hwvx0"), UNDERLAY[node], uplink)
            else:
                dp.attach_tunnel_device(netns.ifindex(ns, "hwvx0"))
        for name, ip, node, net in (
            ("c1", "10.0.0.2", "n1", 1),
            ("c2", "10.0.0.3", "n2", 1),
            ("c3", "10.0.1.2", "n1", 2),
            ("c4", "10.0.1.3", "n2", 2),
        ):
            self.add_ctr(name, ip, node, net)
        for name, c in self.ctrs.items():  # every node knows the other node's endpoints
            for node, dp in self.dps.items():
                if node != self.node_of[name]:
                    dp.set_tunnel_endpoint(
                        c.ip, UNDERLAY[self.node_of[name]], NETS[c.network][0], c.mac
                    )

    def encaps_itself(self, node: str) -> bool:
        return self.mode == "datapath" or (self.mode == "mixed" and node == "n1")

    def device_packets(self, node: str) -> tuple[int, int]:
        """(rx, tx) packets of the node's VXLAN device."""
        out = sh(*netns_exec(self.ns(node), "ip", "-s", "-j", "link", "show", "hwvx0")).stdout
        st = json.loads(out)[0]["stats64"]
        return int(st["rx"]["packets"]), int(st["tx"]["packets"])

    def set_net(self, node: str, key: int, *, icc: bool) -> None:
        vni, sub, br = NETS[key]
        self.dps[node].set_network(
            key, f"{sub}.0/24", f"{sub}.1", netns.mac(self.ns(node), br), icc=icc, masquerade=False,
            internal=False, snat_ip=None, vni=vni, mtu=OVERLAY_MTU,
        )  # fmt: skip

    def add_ctr(self, name: str, ip: str, node: str, net: int) -> None:
        c = attach_container(
            self.scope, self.ns(node), name, ip, bridge=NETS[net][2], gateway=f"{NETS[net][1]}.1",
            mac=mac_of(ip), mtu=OVERLAY_MTU, network=net,
        )  # fmt: skip
        self.dps[node].attach_endpoint(c.ifindex, c.ip, c.mac, net)
        self.ctrs[name] = c
        self.node_of[name] = node

    def in_ctr(self, name: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return sh(*netns_exec(self.ctrs[name].name, *cmd), check=False, timeout=timeout)

    def ping(self, src: str, dst_ip: str, size: int = 56) -> bool:
        return servers.ping(self.ctrs[src].name, dst_ip, size, dont_fragment=True)

    def server(self, name: str, proto: str, port: int) -> None:
        servers.serve(self.scope, self.ctrs[name].name, proto, port)

    def stats(self, node: str) -> dict[tuple[str, str], int]:
        return {(s["direction"], s["reason"]): s["packets"] for s in self.dps[node].stats()}

    def close(self) -> None:
        self.underlay.close()


@pytest.fixture(scope="module", params=["datapath", "device", "mixed"])
def ov(request: pytest.FixtureRequest) -> Iterator[Overlay]:
    o = Overlay(request.param)
    try:
        o.build()
        yield o
    finally:
        o.close()


def exchange(ov: Overlay, src: str, proto: str, dst_ip: str, port: int, payload: str) -> Any:
    """The echo of ``payload``: ``{"peer": [ip, port], "data": …}`` as the server saw it."""
    r = servers.client(ov.ctrs[src].name, proto, dst_ip, port, payload)
    assert "error" not in r, r
    return r["reply"]


def test_containers_on_two_nodes_talk_through_the_tunnel(ov: Overlay) -> None:
    ov.server("c2", "tcp", 7000)
    ov.server("c2", "udp", 7001)
    ov.server("c1", "udp", 7002)
    cap = Capture(ov.scope, ov.ns("ul"), "pn1")  # n1's port of the underlay bridge
    device_before = {node: ov.device_packets(node) for node in UNDERLAY}
    try:
        assert ov.ping("c1", "10.0.0.3")
        bulk = "x" * 60000
        tcp = exchange(ov, "c1", "tcp", "10.0.0.3", 7000, bulk)
        assert tcp["peer"][0] == "10.0.0.2" and tcp["data"] == bulk
        udp = exchange(ov, "c1", "udp", "10.0.0.3", 7001, "to-c2")
        assert udp == {"peer": [udp["peer"][0], udp["peer"][1]], "data": "to-c2"}
        assert udp["peer"][0] == "10.0.0.2"
        back = exchange(ov, "c2", "udp", "10.0.0.2", 7002, "to-c1")
        assert back["data"] == "to-c1" and back["peer"][0] == "10.0.0.3"
    finally:
        frames = cap.stop()
    for node in UNDERLAY:  # the device carried the node's overlay packets only without BPF encap
        (rx0, tx0), (rx1, tx1) = device_before[node], ov.device_packets(node)
        if ov.encaps_itself(node):
            assert (rx1 - rx0, tx1 - tx0) == (0, 0), node
        else:
            assert rx1 - rx0 > 0 and tx1 - tx0 > 0, node
    tunnelled = [v for v in map(parse_vxlan, frames) if v is not None]
    assert tunnelled and {vni for vni, _ in tunnelled} == {256}
    # nothing between the containers crossed the underlay outside the tunnel (no ARP either)
    container_ips = {socket.inet_aton(c.ip) for c in ov.ctrs.values()}
    for frame in frames:
        if parse_vxlan(frame) is None:
            assert frame[12:14] != b"\x08\x06" or frame[38:42] not in container_ips
            assert frame[12:14] != b"\x08\x00" or frame[26:30] not in container_ips
    # ARP for the remote endpoint was answered locally, with its MAC
    neigh = ov.in_ctr("c1", "ip", "-j", "neigh", "show", "10.0.0.3").stdout
    assert json.loads(neigh)[0]["lladdr"] == mac_of("10.0.0.3")
    remote = {e["ip"]: e for e in ov.dps["n1"].tunnel()}
    assert remote["10.0.0.3"] == {"ip": "10.0.0.3", "node": UNDERLAY["n2"], "vni": 256,
                                  "mac": mac_of("10.0.0.3")}  # fmt: skip
    per_node = {s["node"]: s for s in ov.dps["n1"].tunnel_stats()}
    # the bulk data crossed the tunnel both ways, counted per remote node
    assert per_node[UNDERLAY["n2"]]["tx_bytes"] > len(bulk)
    assert per_node[UNDERLAY["n2"]]["rx_bytes"] > len(bulk)
    assert ov.stats("n1")[("from_container", "mtu")] == 0


def test_two_overlays_are_isolated(ov: Overlay) -> None:
    assert ov.ping("c3", "10.0.1.3")  # positive: within net 2, across nodes
    before = ov.stats("n1")[("from_container", "isolation")]
    assert not ov.ping("c3", "10.0.0.3")  # net 2 -> net 1's remote endpoint
    assert ov.stats("n1")[("from_container", "isolation")] > before


def test_mtu_and_missing_tunnel_entries_are_counted_drops(ov: Overlay) -> None:
    c1 = ov.ctrs["c1"]
    assert ov.ping("c1", "10.0.0.3", size=OVERLAY_MTU - 28)  # exactly the overlay MTU
    netns.ip(c1.name, "link", "set", "eth0", "mtu", "1500")
    try:
        before = ov.stats("n1")[("from_container", "mtu")]
        assert not ov.ping("c1", "10.0.0.3", size=OVERLAY_MTU - 27)
        assert ov.stats("n1")[("from_container", "mtu")] > before
    finally:
        netns.ip(c1.name, "link", "set", "eth0", "mtu", str(OVERLAY_MTU))
    c2 = ov.ctrs["c2"]
    ov.dps["n1"].delete_tunnel_endpoint(c2.ip)
    try:
        before = ov.stats("n1")[("from_container", "no_tunnel")]
        assert not ov.ping("c1", "10.0.0.3")
        assert ov.stats("n1")[("from_container", "no_tunnel")] > before
    finally:
        ov.dps["n1"].set_tunnel_endpoint(c2.ip, UNDERLAY["n2"], 256, c2.mac)
    assert ov.ping("c1", "10.0.0.3")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _inner_udp(src: str, dst: str, dport: int, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 40000, dport, udp_len, 0) + payload  # checksum 0: none
    eth = bytes.fromhex(mac_of(dst).replace(":", "")) + bytes.fromhex(
        mac_of(src).replace(":", "")
    ) + b"\x08\x00"  # fmt: skip
    return eth + ip + udp


def _inject(ov: Overlay, vni: int, inner: bytes) -> None:
    """A VXLAN packet to n2 from the underlay: as if a node that ignores policy sent it."""
    vx = struct.pack("!II", 0x08000000, vni << 8) + inner
    script = (
        "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
        f"s.sendto(bytes.fromhex(sys.argv[1]), ({UNDERLAY['n2']!r}, {VXLAN_PORT}))"
    )
    ov.run("ul", PY, "-c", script, vx.hex())


def test_the_receiving_node_enforces_vni_membership_and_icc(ov: Overlay) -> None:
    """Packets injected on the underlay bypass the sender's checks: n2 alone decides."""
    sink = servers.serve(ov.scope, ov.ctrs["c2"].name, "udp", 7100, servers.UDP_SINK)
    assert sink.out is not None

    def delivered(tag: str) -> bool:
        return any(tag in line for line in sink.out.until(lambda line: tag in line, 2))  # type: ignore[union-attr]

    _inject(ov, 256, _inner_udp("10.0.0.2", "10.0.0.3", 7100, b"member"))
    assert delivered("member")  # positive: right VNI, a member's address
    before = ov.stats("n2")
    _inject(ov, 257, _inner_udp("10.0.0.2", "10.0.0.3", 7100, b"wrong-vni"))
    _inject(ov, 256, _inner_udp("10.0.1.2", "10.0.0.3", 7100, b"other-net"))
    after = ov.stats("n2")
    assert after[("from_tunnel", "vni")] == before[("from_tunnel", "vni")] + 1
    assert after[("from_tunnel", "isolation")] == before[("from_tunnel", "isolation")] + 1

    ov.set_net("n2", 1, icc=False)  # only n2: the sender still lets everything through
    try:
        _inject(ov, 256, _inner_udp("10.0.0.2", "10.0.0.3", 7100, b"icc-off"))
        assert until(
            lambda: ov.stats("n2")[("from_tunnel", "icc")] == after[("from_tunnel", "icc")] + 1, 3
        )
        ov.dps["n2"].allow("10.0.0.2", "10.0.0.3", "udp", 7100)
        _inject(ov, 256, _inner_udp("10.0.0.2", "10.0.0.3", 7100, b"allowed"))
        assert delivered("allowed")
    finally:
        ov.dps["n2"].disallow("10.0.0.2", "10.0.0.3", "udp", 7100)
        ov.set_net("n2", 1, icc=True)
    got = sink.out.text()
    assert not any(tag in got for tag in ("wrong-vni", "other-net", "icc-off"))
