"""Endpoints: one sandbox attached to one bridge network (veth, address, datapath entry)."""

from __future__ import annotations

import ipaddress

from controller.errors import Conflict, HawserError
from controller.kernel import links, netns
from controller.kernel.links import VethSpec
from controller.ops.node import Node
from controller.rules import ipam, names
from controller.rules.ipam import mac_for
from controller.rules.model import Container, Endpoint, Network
from controller.store.transaction import Undo


def allocator(node: Node, net: Network) -> ipam.AddressAllocator:
    config = ipam.IpamConfig(
        subnet=ipaddress.IPv4Network(net.subnet),
        gateway=ipaddress.IPv4Address(net.gateway),
        ip_range=ipaddress.IPv4Network(net.ip_range) if net.ip_range else None,
        aux_addresses={k: ipaddress.IPv4Address(v) for k, v in net.aux.items()},
    )
    taken = node.store.endpoint_ips(net.id)
    return ipam.AddressAllocator(config, taken, net.name, net.id)


def next_ifname(node: Node, ctr: Container) -> str:
    used = {ep.ifname for ep in node.store.endpoints(container_id=ctr.id)}
    index = 0
    while f"eth{index}" in used:
        index += 1
    return f"eth{index}"


def prepare(
    node: Node,
    ctr: Container,
    net: Network,
    *,
    requested_ip: str | None = None,
    aliases: list[str] | None = None,
) -> Endpoint:
    """The endpoint's identity and address (no kernel change yet)."""
    if node.store.endpoints(container_id=ctr.id, network_id=net.id):
        raise Conflict(f"endpoint with name {ctr.name} already exists in network {net.name}")
    ip = str(allocator(node, net).allocate(requested_ip))
    ep_id = names.new_id()
    return Endpoint(
        id=ep_id,
        container_id=ctr.id,
        network_id=net.id,
        ifname=next_ifname(node, ctr),
        host_ifname=names.veth_name(ep_id),
        ip=ip,
        prefixlen=ipaddress.IPv4Network(net.subnet).prefixlen,
        mac=mac_for(ip),
        gateway=net.gateway,
        aliases=list(aliases or []),
        static_ip=requested_ip is not None,
    )


def wants_default_route(node: Node, ctr: Container, net: Network) -> bool:
    """Docker: the first non-internal network gives the sandbox its default route."""
    if net.internal:
        return False
    for existing in node.store.endpoints(container_id=ctr.id):
        other = node.store.network(existing.network_id)
        if other is None or not other.internal:
            return False
    return True


def veth_spec(ep: Endpoint, net: Network, default_route: bool) -> VethSpec:
    return VethSpec(
        host_name=ep.host_ifname,
        inside_name=ep.ifname,
        ip=ep.ip,
        prefixlen=ep.prefixlen,
        mac=ep.mac,
        mtu=net.mtu,
        gateway=net.gateway if default_route else None,
    )


def attach(
    node: Node,
    undo: Undo,
    ctr: Container,
    net: Network,
    *,
    requested_ip: str | None = None,
    aliases: list[str] | None = None,
) -> Endpoint:
    """Plumb ``ctr`` (its netns exists) into ``net``; every kernel step registers its undo."""
    ep = prepare(node, ctr, net, requested_ip=requested_ip, aliases=aliases)
    spec = veth_spec(ep, net, wants_default_route(node, ctr, net))
    undo.push(links.delete_link, node.ipr, ep.host_ifname)
    index = netns.run_in(ctr.netns, lambda ns: links.create_veth_inside(ns, spec))
    finish(node, net, ep, undo, index)
    return ep


def finish(
    node: Node, net: Network, ep: Endpoint, undo: Undo | None = None, host_index: int = 0
) -> None:
    """Node side of an endpoint whose veth exists: bridge port, datapath, store row."""
    bridge_index = links.ifindex(node.ipr, net.bridge)
    if bridge_index is None:
        raise HawserError(f"bridge {net.bridge} of network {net.name} is missing")
    ep.ifindex = links.enslave(node.ipr, ep.host_ifname, bridge_index, host_index)
    node.datapath.attach_endpoint(ep.ifindex, ep.ip, ep.mac, net.key)
    if undo is not None:
        undo.push(node.datapath.detach_endpoint, ep.ifindex, ep.ip)
    node.store.put_endpoint(ep)


def replumb(node: Node, ctr: Container, net: Network, ep: Endpoint, default_route: bool) -> None:
    """Rebuild a lost veth of an existing endpoint (reconcile)."""
    spec = veth_spec(ep, net, default_route)
    index = netns.run_in(ctr.netns, lambda ns: links.create_veth_inside(ns, spec))
    finish(node, net, ep, host_index=index)


def detach(node: Node, ep: Endpoint) -> None:
    node.datapath.detach_endpoint(ep.ifindex, ep.ip)
    node.datapath.flush_ct_for(ep.ip)
    links.delete_link(node.ipr, ep.host_ifname)
    node.store.delete_endpoint(ep.id)
