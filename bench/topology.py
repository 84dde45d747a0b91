"""The benchmark topologies, built with the testbed's blocks: ext (outside host) <-> node (the
"host") <-> server containers.

    ext  eth0 198.18.0.2/24  ──veth──  up0 198.18.0.1/24  node
         + client sources 198.18.0.10-41     docker0 172.17.0.1/16 ──veth── eth0 172.17.0.2  srv
         + destinations  198.18.0.100-199    br-7c749175428f 172.30.0.1/24 (Docker's layout)

    limit:  a  eth0 198.19.0.1/24 (+ .10-41)  ──veth──  eth0 198.19.0.2/24 (+ .100-199)  b

198.18.0.0/15 is the range reserved for benchmarks (RFC 2544). Every address lives inside netns
this run created (``t-bench-<run>-<role>-…``). Hawser nodes get ext + node only; the daemon
builds its own bridge and containers. The limit pair is the shortest kernel path between two
netns: one veth, no bridge, no forwarding.
"""

from __future__ import annotations

import ipaddress

from bench import proc
from bench.iptables_layout import USER_BRIDGE
from testbed import netns
from testbed.topology import ExtNode, attach_container, new_netns

EXT_IP = "198.18.0.2"
NODE_IP = "198.18.0.1"
UPLINK = "up0"
SRV_IP = "172.17.0.2"
GATEWAY = "172.17.0.1"
LIMIT_CLIENT_IP = "198.19.0.1"
LIMIT_SERVER_IP = "198.19.0.2"

# Client source addresses (round robin in loadgen, so a client's own ports are never the limit)
# and the 100 destinations of S8, as offsets in the outside /24.
CLIENT_SRC_OFFSET, CLIENT_SRCS = 10, 32
DEST_OFFSET, DESTS = 100, 100


def nth(base: str, offset: int) -> str:
    """The address `offset` after the network address of base's /24."""
    net = ipaddress.ip_network(f"{base}/24", strict=False)
    return str(net.network_address + offset)


def src_spec(base: str) -> str:
    """loadgen -s argument for the client source addresses in base's /24."""
    return f"{nth(base, CLIENT_SRC_OFFSET)}/{CLIENT_SRCS}"


def add_addresses(ns: str, dev: str, base: str, offset: int, count: int) -> None:
    """count extra addresses from base's /24 + offset on dev (one `ip -batch`)."""
    netns.add_addresses(ns, dev, [f"{nth(base, offset + i)}/24" for i in range(count)])


class _Topology:
    """Netns named ``t-bench-<run>-<role>-…``, all deleted by ``destroy`` (or the run's
    clean-up)."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.scope = proc.scope(role)

    def destroy(self) -> None:
        proc.release(self.scope)


class Link(_Topology):
    """ext <-> node with nothing else: what a Hawser node starts from."""

    ext = node = ""

    def build(self) -> None:
        net = ExtNode(
            self.scope, uplink=UPLINK, node_ip=NODE_IP, ext_ip=EXT_IP, forwarding=True,
            grace=proc.GRACE,
        )  # fmt: skip
        self.ext, self.node = net.ext, net.node
        add_addresses(self.ext, "eth0", EXT_IP, CLIENT_SRC_OFFSET, CLIENT_SRCS)
        add_addresses(self.ext, "eth0", EXT_IP, DEST_OFFSET, DESTS)
        # Every netns keeps the default ephemeral range (32768-60999), as a real host has:
        # the node's own sockets must not take host ports that get published, and S8 measures
        # a container with the ports a container really uses.

    @property
    def namespaces(self) -> list[str]:
        return [ns for ns in (self.ext, self.node) if ns]


class BaselineNode(Link):
    """ext <-> node with Docker's two bridges and one server container `srv`."""

    srv = ""

    def build(self) -> None:
        super().build()
        netns.bridge(self.node, "docker0", f"{GATEWAY}/16")
        netns.bridge(self.node, USER_BRIDGE, "172.30.0.1/24")
        self.srv = attach_container(
            self.scope, self.node, "srv", SRV_IP, bridge="docker0", gateway=GATEWAY, plen=16,
            host_if="vsrv", grace=proc.GRACE,
        ).name  # fmt: skip
        # Docker's routed path (the no-NAT reference): the outside host knows the container
        # subnet is behind the node. Harmless for the iptables layout, which DNATs to it anyway.
        netns.ip(self.ext, "route", "add", "172.17.0.0/16", "via", NODE_IP)

    @property
    def namespaces(self) -> list[str]:
        return [ns for ns in (self.ext, self.node, self.srv) if ns]


class DirectPair(_Topology):
    """The limit: client netns `a` and server netns `b` joined by one veth, nothing else."""

    a = b = ""

    def build(self) -> None:
        self.a = new_netns(self.scope, "a", proc.GRACE)
        self.b = new_netns(self.scope, "b", proc.GRACE)
        netns.veth(self.a, "eth0", self.b, "eth0")
        netns.up(self.a, "eth0", f"{LIMIT_CLIENT_IP}/24")
        netns.up(self.b, "eth0", f"{LIMIT_SERVER_IP}/24")
        add_addresses(self.a, "eth0", LIMIT_CLIENT_IP, CLIENT_SRC_OFFSET, CLIENT_SRCS)
        add_addresses(self.b, "eth0", LIMIT_SERVER_IP, DEST_OFFSET, DESTS)

    @property
    def namespaces(self) -> list[str]:
        return [ns for ns in (self.a, self.b) if ns]
