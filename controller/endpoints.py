"""Endpoints: one sandbox attached to one bridge network (veth, address, datapath entry)."""

from __future__ import annotations

import ipaddress

from controller import ipam, kernel_links, names
from controller.errors import Conflict, HawserError
from controller.kernel_links import VethSpec
from controller.model import Container, Endpoint, Network
from controller.node import Node
from controller.transaction import Undo


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the IPv4 address."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


def allocator(node: Node, net: Network) -> ipam.AddressAllocator:
    config = ipam.IpamConfig(
        subnet=ipaddress.IPv4Network(net.subnet),
        gateway=ipaddress.IPv4Address(net.gateway),
        ip_range=ipaddress.IPv4Network(net.ip_range) if net.ip_range else None,
        aux_addresses={k: ipaddress.IPv4Address(v) for k, v in net.aux.items()},
    )
    taken = [ep.ip for ep in node.store.endpoints(network_id=net.id)]
    return ipam.AddressAllocator(config, taken, net.name, net.id)


def next_ifname(node: Node, ctr: Container) -> str:
    used = {ep.ifname for ep in node.store.endpoints(container_id=ctr.id)}
    index = 0
    while f"eth{index}" in used:
        index += 1
    return f"eth{index}"


def attach(
    node: Node,
    undo: Undo,
    ctr: Container,
    net: Network,
    *,
    requested_ip: str | None = None,
    aliases: list[str] | None = None,
) -> Endpoint:
    """Plumb ``ctr`` into ``net``; every kernel step registers its undo."""
    if node.store.endpoints(container_id=ctr.id, network_id=net.id):
        raise Conflict(f"endpoint with name {ctr.name} already exists in network {net.name}")
    ip = str(allocator(node, net).allocate(requested_ip))
    ep_id = names.new_id()
    existing = node.store.endpoints(container_id=ctr.id)
    has_default_route = any(
        not (n := node.store.network(e.network_id)) or not n.internal for e in existing
    )
    bridge_index = kernel_links.ifindex(node.ipr, net.bridge)
    if bridge_index is None:
        raise HawserError(f"bridge {net.bridge} of network {net.name} is missing")
    ep = Endpoint(
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
    plumb(node, ctr, net, ep, default_route=not net.internal and not has_default_route, undo=undo)
    node.store.put_endpoint(ep)
    return ep


def plumb(
    node: Node,
    ctr: Container,
    net: Network,
    ep: Endpoint,
    *,
    default_route: bool,
    undo: Undo | None = None,
) -> None:
    """Kernel and datapath part of an endpoint (also used by reconcile)."""
    bridge_index = kernel_links.ifindex(node.ipr, net.bridge)
    assert bridge_index is not None
    spec = VethSpec(
        host_name=ep.host_ifname,
        bridge_index=bridge_index,
        netns=ctr.netns,
        inside_name=ep.ifname,
        ip=ep.ip,
        prefixlen=ep.prefixlen,
        mac=ep.mac,
        mtu=net.mtu,
        gateway=net.gateway if default_route else None,
    )
    if undo is not None:
        undo.push(kernel_links.delete_link, node.ipr, ep.host_ifname)
    index = kernel_links.create_endpoint(node.ipr, spec)
    node.datapath.attach_endpoint(index, ep.ip, ep.mac, net.key)
    if undo is not None:
        undo.push(node.datapath.detach_endpoint, index, ep.ip)


def detach(node: Node, ep: Endpoint) -> None:
    index = kernel_links.ifindex(node.ipr, ep.host_ifname) or 0
    node.datapath.detach_endpoint(index, ep.ip)
    node.datapath.flush_ct_for(ep.ip)
    kernel_links.delete_link(node.ipr, ep.host_ifname)
    node.store.delete_endpoint(ep.id)
