"""The benchmark topology: ext (outside host) <-> node (the "host") <-> server containers.

    ext  eth0 198.18.0.2/24  ──veth──  up0 198.18.0.1/24  node
                                        docker0 172.17.0.1/16 ──veth── eth0 172.17.0.2/16  srv
                                        br-7c749175428f 172.30.0.1/24 (Docker's layout names it)

198.18.0.0/15 is the range reserved for benchmarks (RFC 2544). Every address lives inside netns
this run created. Hawser nodes get ext + node only; the daemon builds its own bridge and containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.iptables_layout import USER_BRIDGE
from bench.proc import del_netns, in_ns, new_netns, sh

EXT_IP = "198.18.0.2"
NODE_IP = "198.18.0.1"
UPLINK = "up0"
SRV_IP = "172.17.0.2"
GATEWAY = "172.17.0.1"


def sysctl(ns: str, key: str, value: str) -> None:
    """Set a sysctl inside our own netns (never the root netns)."""
    sh(in_ns(ns, "sysctl", "-q", "-w", f"{key}={value}"))


def client_sysctls(ns: str) -> None:
    """Wide ephemeral port range for the connection-per-request clients."""
    sysctl(ns, "net.ipv4.ip_local_port_range", "1024 65000")


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
        sh(
            [
                "ip",
                "-n",
                self.node,
                "link",
                "add",
                UPLINK,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.ext,
            ]
        )
        sh(["ip", "-n", self.node, "addr", "add", f"{NODE_IP}/24", "dev", UPLINK])
        sh(["ip", "-n", self.node, "link", "set", UPLINK, "up"])
        sh(["ip", "-n", self.ext, "addr", "add", f"{EXT_IP}/24", "dev", "eth0"])
        sh(["ip", "-n", self.ext, "link", "set", "eth0", "up"])
        sysctl(self.node, "net.ipv4.ip_forward", "1")
        client_sysctls(self.ext)
        # The node keeps the default ephemeral range (32768-60999): its own client sockets must
        # not occupy host ports that get published (Hawser refuses a port in use, like Docker).

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
            sh(["ip", "-n", n, "addr", "add", cidr, "dev", bridge])
            sh(["ip", "-n", n, "link", "set", bridge, "up"])
        self.srv = new_netns(f"{self.role}-srv")
        self.extra_ns.append(self.srv)
        sh(
            [
                "ip",
                "-n",
                n,
                "link",
                "add",
                "vsrv",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.srv,
            ]
        )
        sh(["ip", "-n", n, "link", "set", "vsrv", "master", "docker0", "up"])
        sh(["ip", "-n", self.srv, "addr", "add", f"{SRV_IP}/16", "dev", "eth0"])
        sh(["ip", "-n", self.srv, "link", "set", "eth0", "up"])
        sh(["ip", "-n", self.srv, "route", "add", "default", "via", GATEWAY])
        client_sysctls(self.srv)
        # Only the no-NAT limit uses it, but it is harmless elsewhere: the outside host knows
        # the container subnet is behind the node.
        sh(["ip", "-n", self.ext, "route", "add", "172.17.0.0/16", "via", NODE_IP])
