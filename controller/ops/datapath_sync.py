"""Translate stored objects into datapath map entries (published ports)."""

from __future__ import annotations

from controller.datapath.types import PortMapping
from controller.kernel import links
from controller.ops.node import Node
from controller.rules.model import Endpoint, PortBinding

DATAPATH_PROTOCOLS = ("tcp", "udp")
#: The endpoint that serves a container's published ports (the one ``run`` makes).
PORTS_IFNAME = "eth0"


def mappings(node: Node, bindings: list[PortBinding], endpoint: Endpoint) -> list[PortMapping]:
    index = links.ifindex(node.ipr, endpoint.host_ifname) or 0
    return [
        PortMapping(b.proto, b.host_ip, b.host_port, endpoint.ip, b.container_port, index)
        for b in bindings
        if b.proto in DATAPATH_PROTOCOLS
    ]


def publish_bindings(node: Node, bindings: list[PortBinding], endpoint: Endpoint) -> None:
    node.datapath.add_ports(mappings(node, bindings, endpoint))


def unpublish_bindings(node: Node, bindings: list[PortBinding], endpoint: Endpoint) -> None:
    node.datapath.delete_ports(mappings(node, bindings, endpoint))
