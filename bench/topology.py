"""The benchmark topologies: ext (outside host) <-> node (the "host") <-> server containers.

    ext  eth0 198.18.0.2/24  ──veth──  up0 198.18.0.1/24  node
         + client sources 198.18.0.10-41     docker0 172.17.0.1/16 ──veth── eth0 172.17.0.2  srv
         + destinations  198.18.0.100-199    br-7c749175428f 172.30.0.1/24 (Docker's layout)

    limit:  a  eth0 198.19.0.1/24 (+ .10-41)  ──veth──  eth0 198.19.0.2/24 (+ .100-199)  b

198.18.0.0/15 is the range reserved for benchmarks (RFC 2544). Every address lives inside netns
this run created. Hawser nodes get ext + node only; the daemon builds its own bridge and containers.
The limit pair is the shortest kernel path between two netns: one veth, no bridge, no forwarding.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bench.iptables_layout import USER_BRIDGE
from bench.proc import del_netns, in_ns, new_netns, sh

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


def sysctl(ns: str, key: str, value: str) -> None:
    """Set a sysctl inside our own netns (never the root netns)."""
    sh(in_ns(ns, "sysctl", "-q", "-w", f"{key}={value}"))


def add_addresses(ns: str, dev: str, base: str, offset: int, count: int) -> None:
    """count extra addresses from base's /24 + offset on dev (one `ip -batch`)."""
    lines = [f"addr add {nth(base, offset + i)}/24 dev {dev}" for i in range(count)]
    sh(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")


def veth(ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
    sh(
        [
            "ip",
            "-n",
            ns_a,
            "link",
            "add",
            name_a,
            "type",
            "veth",
            "peer",
            "name",
            name_b,
            "netns",
            ns_b,
        ]
    )


def up(ns: str, dev: str, cidr: str | None = None) -> None:
    if cidr:
        sh(["ip", "-n", ns, "addr", "add", cidr, "dev", dev])
    sh(["ip", "-n", ns, "link", "set", dev, "up"])


@dataclass
class Link:
    """ext <-> node with nothing else: what a Hawser node starts from."""

    role: str
    ext: str = ""
    node: str = ""
    extra_ns: list[str] = field(default_factory=list)

    def build(self) -> None:
        self.ext = new_netns(f"{self.role}-ext")
        self.node = new_netns(f"{self.role}-node")
        veth(self.node, UPLINK, self.ext, "eth0")
        up(self.node, UPLINK, f"{NODE_IP}/24")
        up(self.ext, "eth0", f"{EXT_IP}/24")
        add_addresses(self.ext, "eth0", EXT_IP, CLIENT_SRC_OFFSET, CLIENT_SRCS)
        add_addresses(self.ext, "eth0", EXT_IP, DEST_OFFSET, DESTS)
        sysctl(self.node, "net.ipv4.ip_forward", "1")
        # Every netns keeps the default ephemeral range (32768-60999), as a real host has:
        # the node's own sockets must not take host ports that get published, and S8 measures
        # a container with the ports a container really uses.

    @property
    def namespaces(self) -> list[str]:
        return [ns for ns in (self.ext, self.node, *self.extra_ns) if ns]

    def destroy(self) -> None:
        for ns in [*self.extra_ns, self.node, self.ext]:
            if ns:
                del_netns(ns)


@dataclass
class BaselineNode(Link):
    """ext <-> node with Docker's two bridges and one server container `srv`."""

    srv: str = ""

    def build(self) -> None:
        super().build()
        n = self.node
        for bridge, cidr in (("docker0", f"{GATEWAY}/16"), (USER_BRIDGE, "172.30.0.1/24")):
            sh(["ip", "-n", n, "link", "add", bridge, "type", "bridge"])
            up(n, bridge, cidr)
        self.srv = new_netns(f"{self.role}-srv")
        self.extra_ns.append(self.srv)
        veth(n, "vsrv", self.srv, "eth0")
        sh(["ip", "-n", n, "link", "set", "vsrv", "master", "docker0", "up"])
        up(self.srv, "eth0", f"{SRV_IP}/16")
        sh(["ip", "-n", self.srv, "route", "add", "default", "via", GATEWAY])
        # Docker's routed path (the no-NAT reference): the outside host knows the container
        # subnet is behind the node. Harmless for the iptables layout, which DNATs to it anyway.
        sh(["ip", "-n", self.ext, "route", "add", "172.17.0.0/16", "via", NODE_IP])


@dataclass
class DirectPair:
    """The limit: client netns `a` and server netns `b` joined by one veth, nothing else."""

    role: str
    a: str = ""
    b: str = ""

    def build(self) -> None:
        self.a = new_netns(f"{self.role}-a")
        self.b = new_netns(f"{self.role}-b")
        veth(self.a, "eth0", self.b, "eth0")
        up(self.a, "eth0", f"{LIMIT_CLIENT_IP}/24")
        up(self.b, "eth0", f"{LIMIT_SERVER_IP}/24")
        add_addresses(self.a, "eth0", LIMIT_CLIENT_IP, CLIENT_SRC_OFFSET, CLIENT_SRCS)
        add_addresses(self.b, "eth0", LIMIT_SERVER_IP, DEST_OFFSET, DESTS)

    @property
    def namespaces(self) -> list[str]:
        return [ns for ns in (self.a, self.b) if ns]

    def destroy(self) -> None:
        for ns in (self.b, self.a):
            if ns:
                del_netns(ns)
