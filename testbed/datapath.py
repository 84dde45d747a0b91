"""The bare datapath (no daemon) on a node, and the topology its tests share.

``start_datapath`` compiles and starts a ``Datapath`` for a node netns, its pins under
``hawser/<name>`` (``close_datapath`` destroys it, pins included). ``DatapathTopology`` is
``ExtNode`` (uplink ``up0``, forwarding on) with three bridges and containers the test makes::

    ext netns                    node netns                         container netns
    eth0 10.99.0.2/24 ---- veth up0 10.99.0.1/24 (uplink)
                               bridge hw0 172.20.0.1/16 --- hv<n> ==== eth0 172.20.0.x/16
                               bridge hw1 172.21.0.1/16 --- hv<n> ==== eth0 172.21.0.x/16
                               bridge hw2 172.22.0.1/16 --- hv<n> ==== eth0 172.22.0.x/16
"""

from __future__ import annotations

import socket
from typing import Any

from pyroute2 import NetNS

from testbed import netns, servers
from testbed.procs import Proc
from testbed.scope import Scope
from testbed.topology import EXT_IP, NODE_IP, Container, ExtNode, attach_container
from testbed.under_test import Datapath, DatapathConfig, cookie_of

NETS = {1: ("hw0", "172.20.0.1", 16), 2: ("hw1", "172.21.0.1", 16), 3: ("hw2", "172.22.0.1", 16)}

__all__ = ["EXT_IP", "NETS", "NODE_IP", "DatapathTopology", "close_datapath", "start_datapath"]


def start_datapath(node: str, name: str, **config: Any) -> tuple[Datapath, NetNS, int]:
    """A started Datapath for netns ``node``: (datapath, netlink handle there, netns cookie)."""
    ipr = NetNS(node)
    dp = Datapath(DatapathConfig(node=name, **config), ipr)
    cookie = cookie_of(netns.path(node))
    try:
        dp.start(cookie)
    except BaseException:
        close_datapath(dp, ipr)
        raise
    return dp, ipr, cookie


def close_datapath(dp: Datapath | None, ipr: NetNS | None) -> None:
    if dp is not None:
        dp.destroy()
    if ipr is not None:
        ipr.close()


class DatapathTopology(ExtNode):
    def __init__(self, scope: Scope | None = None) -> None:
        super().__init__(scope, forwarding=True)
        self.prefix = self.scope.prefix
        self.containers: list[Container] = []
        for bridge, gateway, plen in NETS.values():
            self.add_bridge(bridge, f"{gateway}/{plen}")

    def add_container(self, ip: str, network: int = 1) -> Container:
        """A container on bridge ``NETS[network]``, named ``c<n>`` with host veth ``hv<n>``."""
        idx = len(self.containers)
        bridge, gateway, plen = NETS[network]
        c = attach_container(
            self.scope, self.node, f"c{idx}", ip, bridge=bridge, gateway=gateway, plen=plen,
            host_if=f"hv{idx}", network=network,
        )  # fmt: skip
        self.containers.append(c)
        return c

    def start_datapath(self, **config: Any) -> tuple[Datapath, NetNS]:
        """Datapath for the node: uplink attached, network 1 (172.20/16) masquerading; the
        caller closes it with ``close_datapath``."""
        dp, ipr, _ = start_datapath(self.node, self.prefix, **config)
        try:
            dp.attach_uplink(netns.ifindex(self.node, self.uplink), self.node_ip)
            dp.set_network(
                1, "172.20.0.0/16", "172.20.0.1", netns.mac(self.node, "hw0"),
                icc=True, masquerade=True, internal=False, snat_ip=None,
            )  # fmt: skip
        except BaseException:
            close_datapath(dp, ipr)
            raise
        return dp, ipr

    # traffic: the standard servers and clients, in this topology's namespaces ----------------
    def server(self, ns: str, proto: str, port: int, script: str = servers.ECHO) -> Proc:
        return servers.serve(self.scope, ns, proto, port, script)

    def client(self, ns: str, proto: str, host: str, port: int, payload: str = "hello",
               *, nsenter: bool = False, timeout: float = 3) -> dict[str, Any]:  # fmt: skip
        return servers.client(ns, proto, host, port, payload, bpffs=nsenter, timeout=timeout)

    def ping(self, ns: str, dst: str) -> bool:
        return servers.ping(ns, dst)

    def offload(self, ns: str, dev: str, on: bool) -> None:
        netns.offload(ns, dev, tx=on)

    def socket_in(self, ns: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return netns.socket_in(ns, kind)
