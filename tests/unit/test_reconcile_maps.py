"""What the store justifies in the maps (reconcile_maps' pure half)."""

from __future__ import annotations

from controller.daemon.reconcile_maps import (
    EndpointEntry,
    wanted_endpoints,
    wanted_networks,
    wanted_ports,
)
from controller.datapath.types import PortMapping
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding

BRIDGE = Network(id="a" * 64, name="bridge", key=3, driver="bridge", created="",
                 subnet="172.17.0.0/16", gateway="172.17.0.1", bridge="hawser0")  # fmt: skip
SIDE = Network(id="b" * 64, name="side", key=4, driver="bridge", created="", internal=True,
               subnet="172.30.0.0/24", gateway="172.30.0.1", bridge="hw-bbbbbbbbbbbb")  # fmt: skip
HOST = Network(id="c" * 64, name="host", key=1, driver="host", created="")


INDEX = {"hwv1": 11, "hwv2": 12, "hwv3": 13, "hwv4": 14}


def _ep(ctr: str, net: Network, ifname: str, ip: str, veth: str) -> Endpoint:
    return Endpoint(id=veth * 4, container_id=ctr, network_id=net.id, ifname=ifname,
                    host_ifname=veth, ip=ip, prefixlen=16, mac=f"02:42:{ip}", gateway="",
                    ifindex=INDEX.get(veth, 0))  # fmt: skip


EPS = [
    _ep("c1", BRIDGE, "eth0", "172.17.0.2", "hwv1"),
    _ep("c1", SIDE, "eth1", "172.30.0.2", "hwv2"),
    _ep("c2", SIDE, "eth0", "172.30.0.3", "hwv3"),
    _ep("c3", BRIDGE, "eth1", "172.17.0.4", "hwv4"),  # its eth0 was disconnected
]


def test_networks_are_the_bridge_networks_with_their_flags() -> None:
    want = wanted_networks([BRIDGE, SIDE, HOST])
    assert set(want) == {3, 4}
    assert want[3]["masquerade"] and want[3]["icc"] and not want[3]["internal"]
    assert not want[4]["masquerade"] and want[4]["internal"]  # internal never masquerades
    assert want[3]["bridge_mac"] == "02:aa:aa:aa:aa:aa"


def test_endpoints_need_their_network_and_their_veth() -> None:
    index = dict(INDEX)
    del index["hwv3"]  # a veth that is gone (reconcile replumbs it first, or it has none)
    want = wanted_endpoints([BRIDGE, SIDE], EPS + [_ep("c9", HOST, "eth0", "1.2.3.4", "hwv9")],
                            index)  # fmt: skip
    assert want == {
        "172.17.0.2": EndpointEntry(11, 3, "02:42:172.17.0.2"),
        "172.30.0.2": EndpointEntry(12, 4, "02:42:172.30.0.2"),
        "172.17.0.4": EndpointEntry(14, 3, "02:42:172.17.0.4"),
    }


def _ctr(ctr_id: str, serving: str) -> Container:
    return Container(id=ctr_id, name=ctr_id, created="", network_mode="bridge", hostname="",
                     netns="", ports_endpoint=serving)  # fmt: skip


def test_ports_go_to_the_endpoint_each_container_names() -> None:
    bindings = {
        "c1": [PortBinding.bound("tcp", 80, "0.0.0.0", 8080),
               PortBinding.bound("udp", 53, "10.0.0.1", 5353),
               PortBinding.bound("sctp", 9000, "0.0.0.0", 9000)],  # not a datapath protocol
        "c2": [PortBinding.bound("tcp", 80, "0.0.0.0", 8081)],
        "c3": [PortBinding.bound("tcp", 80, "0.0.0.0", 8082)],  # none serves them
        "c4": [PortBinding.bound("tcp", 80, "0.0.0.0", 8083)],  # its endpoint's veth is gone
        "gone": [PortBinding.bound("tcp", 80, "0.0.0.0", 22012)],  # no container at all
    }  # fmt: skip
    ctrs = [_ctr("c1", "hwv1" * 4), _ctr("c2", "hwv3" * 4), _ctr("c3", ""),
            _ctr("c4", "hwv5" * 4)]  # fmt: skip
    eps = EPS + [_ep("c4", BRIDGE, "eth0", "172.17.0.5", "hwv5")]
    assert wanted_ports(bindings, ctrs, eps, INDEX) == {
        ("tcp", "0.0.0.0", 8080): PortMapping("tcp", "0.0.0.0", 8080, "172.17.0.2", 80, 11),
        ("udp", "10.0.0.1", 5353): PortMapping("udp", "10.0.0.1", 5353, "172.17.0.2", 53, 11),
        ("tcp", "0.0.0.0", 8081): PortMapping("tcp", "0.0.0.0", 8081, "172.30.0.3", 80, 13),
    }
