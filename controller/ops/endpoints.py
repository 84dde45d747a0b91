"""Endpoints: one sandbox attached to one network (veth, address, datapath entry).

A bridge network's addresses come from the node's own allocator; another driver's (an
overlay's) from the driver, which claims the address and the container's name in the
cluster store. An overlay's container that is not ``--internal`` also gets an endpoint on
the node's gateway network (``attach_gateway``): its default route, masquerade and
published ports go through that one, as Docker's docker_gwbridge does.
"""

from __future__ import annotations

import ipaddress

from controller.errors import Conflict, HawserError
from controller.kernel import links, netns
from controller.kernel.links import VethSpec
from controller.ops.node import Node
from controller.rules import ipam, names
from controller.rules.ipam import mac_for
from controller.rules.model import GATEWAY_NETWORK, Container, Endpoint, Network
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
    mac: str = "",
    undo: Undo | None = None,
) -> Endpoint:
    """The endpoint's identity and address (no kernel change yet; a driver's claim of the
    address registers its release with ``undo``); its MAC is ``mac`` or Docker's, derived
    from the address."""
    if node.store.endpoints(container_id=ctr.id, network_id=net.id):
        raise Conflict(f"endpoint with name {ctr.name} already exists in network {net.name}")
    ep_id = names.new_id()
    driver = node.drivers.get(net.driver)
    if driver is not None:
        ip = driver.claim_address(node, net, ctr, ep_id, requested_ip, list(aliases or []))
        if undo is not None:
            undo.push(driver.release_address, node, net, ep_id)
    else:
        ip = str(allocator(node, net).allocate(requested_ip))
    return Endpoint(
        id=ep_id,
        container_id=ctr.id,
        network_id=net.id,
        ifname=next_ifname(node, ctr),
        host_ifname=names.veth_name(ep_id),
        ip=ip,
        prefixlen=ipaddress.IPv4Network(net.subnet).prefixlen,
        mac=mac or mac_for(ip),
        gateway=net.gateway,
        aliases=list(aliases or []),
        static_ip=requested_ip is not None,
    )


def gives_default_route(net: Network) -> bool:
    """Internal networks never do; nor overlays (their gateway network does)."""
    return not net.internal and not net.is_overlay


def wants_default_route(node: Node, ctr: Container, net: Network) -> bool:
    """Docker: the first network that can gives the sandbox its default route."""
    if not gives_default_route(net):
        return False
    for existing in node.store.endpoints(container_id=ctr.id):
        other = node.store.network(existing.network_id)
        if other is None or gives_default_route(other):
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
    ep = prepare(node, ctr, net, requested_ip=requested_ip, aliases=aliases, undo=undo)
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
    net = node.store.network(ep.network_id)
    driver = node.drivers.get(net.driver) if net is not None else None
    if driver is not None and net is not None:
        driver.release_address(node, net, ep.id)


def attach_gateway(node: Node, undo: Undo, ctr: Container, net: Network) -> Endpoint | None:
    """The endpoint on the gateway network of ``net``'s driver that a container of ``net``
    needs, made now; None when it needs none (a bridge network, ``--internal``) or already
    has its way out (that endpoint, or a network with a default route)."""
    driver = node.drivers.get(net.driver)
    if driver is None or net.internal:
        return None
    for existing in node.store.endpoints(container_id=ctr.id):
        other = node.store.network(existing.network_id)
        if other is not None and gives_default_route(other):
            return None
    gateway = driver.gateway_network(node, undo)
    return attach(node, undo, ctr, gateway)


def gateway_unneeded(node: Node, ctr: Container, leaving: Endpoint) -> Endpoint | None:
    """The container's gateway-network endpoint once ``leaving`` goes, if nothing else of
    it (another overlay that is not internal) needs it any more."""
    gateway: Endpoint | None = None
    for ep in node.store.endpoints(container_id=ctr.id):
        if ep.id == leaving.id:
            continue
        net = node.store.network(ep.network_id)
        if net is None:
            continue
        if net.is_overlay and not net.internal:
            return None
        if net.name == GATEWAY_NETWORK:
            gateway = ep
    return gateway
