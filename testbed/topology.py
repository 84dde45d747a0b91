"""The standard topologies. Every netns is named by the scope (``t-<hex>-<role>``) and
deleted by its ``close()``, also when building failed half-way.

``ExtNode``: an outside host and a node, joined by one veth::

    ext   eth0 10.99.0.2/24  ──veth──  <uplink> 10.99.0.1/24   node   [bridges ── containers]

``Underlay``: nodes on a bridge in a netns of its own (198.18.0.0/24 by default: node i is
198.18.0.<i+1>, the bridge itself holds ``.254``)::

    n1  ul 198.18.0.1 ──┐
    n2  ul 198.18.0.2 ──┼── pn1/pn2/… on bridge ulbr 198.18.0.254   (netns ``ul``)
    …                ──┘

``attach_container``: a netns with ``eth0`` on a bridge of a node (made by the test itself,
not by a daemon: for tests of the bare datapath and for the benchmark's baselines).
Only addresses inside these namespaces are used; nothing touches the root netns.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed import netns
from testbed.scope import Scope

NODE_IP = "10.99.0.1"
EXT_IP = "10.99.0.2"
UNDERLAY_NET = "198.18.0"


def new_netns(scope: Scope, role: str, grace: float = 0.0) -> str:
    """Netns ``<prefix>-<role>`` with lo up, deleted (after its processes) at scope close."""
    name = scope.name(role)
    scope.on_close(lambda: netns.delete(name, grace), key=name)
    netns.add(name)
    return name


@dataclass
class Container:
    name: str  # its netns
    ip: str
    mac: str
    host_if: str  # the host-side veth, in the node's netns
    ifindex: int  # of host_if
    network: int = 0  # the caller's key for the bridge it is on


def attach_container(
    scope: Scope,
    node: str,
    role: str,
    ip: str,
    *,
    bridge: str,
    gateway: str,
    plen: int = 24,
    host_if: str | None = None,
    mac: str | None = None,
    mtu: int | None = None,
    network: int = 0,
    grace: float = 0.0,
) -> Container:
    """Netns ``<prefix>-<role>`` whose ``eth0`` (``ip/plen``, default route via ``gateway``)
    is the peer of ``host_if`` on ``bridge`` in ``node``."""
    name = new_netns(scope, role, grace)
    host_if = host_if or f"v{role}"[:15]
    netns.veth(node, host_if, name, "eth0")
    netns.ip(node, "link", "set", host_if, "master", bridge, "up")
    settings = [*(("address", mac) if mac else ()), *(("mtu", str(mtu)) if mtu else ())]
    if settings:
        netns.ip(name, "link", "set", "eth0", *settings)
    netns.up(name, "eth0", f"{ip}/{plen}")
    netns.ip(name, "route", "add", "default", "via", gateway)
    return Container(
        name, ip, netns.mac(name, "eth0"), host_if, netns.ifindex(node, host_if), network
    )


class ExtNode:
    """ext <-> node; ``forwarding`` sets ip_forward in the node (a daemon sets it itself)."""

    def __init__(
        self,
        scope: Scope | None = None,
        *,
        uplink: str = "up0",
        node_ip: str = NODE_IP,
        ext_ip: str = EXT_IP,
        plen: int = 24,
        forwarding: bool = False,
        grace: float = 0.0,
    ) -> None:
        self.scope = scope or Scope()
        self.uplink, self.node_ip, self.ext_ip, self.plen = uplink, node_ip, ext_ip, plen
        self.grace = grace
        self.ext = self.scope.name("ext")
        self.node = self.scope.name("node")
        try:
            self._build(forwarding)
        except BaseException:
            self.close()
            raise

    def _build(self, forwarding: bool) -> None:
        new_netns(self.scope, "ext", self.grace)
        new_netns(self.scope, "node", self.grace)
        netns.veth(self.node, self.uplink, self.ext, "eth0")
        netns.up(self.node, self.uplink, f"{self.node_ip}/{self.plen}")
        netns.up(self.ext, "eth0", f"{self.ext_ip}/{self.plen}")
        if forwarding:
            netns.sysctl(self.node, "net.ipv4.ip_forward", "1")

    def add_bridge(self, name: str, cidr: str | None = None) -> None:
        netns.bridge(self.node, name, cidr)

    def close(self) -> list[str]:
        return self.scope.close()


class Underlay:
    """``count`` node netns (``n1``…) on bridge ``ulbr`` in netns ``ul``."""

    def __init__(self, count: int = 3, scope: Scope | None = None, *, bridge_host: int = 254):
        self.scope = scope or Scope()
        self.tag = self.scope.tag
        self.ul = self.scope.name("ul")
        self.bridge_ip = f"{UNDERLAY_NET}.{bridge_host}"
        self.roles = [f"n{i}" for i in range(1, count + 1)]
        self.nodes = [self.scope.name(role) for role in self.roles]
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def address(self, index: int) -> str:
        """Underlay address of node ``index`` (0-based)."""
        return f"{UNDERLAY_NET}.{index + 1}"

    def _build(self) -> None:
        new_netns(self.scope, "ul")
        netns.bridge(self.ul, "ulbr", f"{self.bridge_ip}/24")
        for i, role in enumerate(self.roles):
            ns = new_netns(self.scope, role)
            netns.veth(ns, "ul", self.ul, f"p{role}")
            netns.ip(self.ul, "link", "set", f"p{role}", "master", "ulbr", "up")
            netns.up(ns, "ul", f"{self.address(i)}/24")

    def close(self) -> list[str]:
        return self.scope.close()
