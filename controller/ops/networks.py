"""Network operations: create, remove, prune, the built-ins, and their Docker inspect shape."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PrerequisiteMissing,
    network_has_endpoints,
)
from controller.kernel import links
from controller.ops import engines, lookup
from controller.ops.node import Node
from controller.rules import ipam, names, netopts
from controller.rules.model import DEFAULT_BRIDGE_DEVICE, OVERLAY, Network
from controller.rules.timestamps import now_iso
from controller.store.transaction import Undo, operation

log = logging.getLogger(__name__)


@dataclass
class NetworkRequest:
    name: str
    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    network_id: str | None = None  # an engine's id for it (Docker's); None: Hawser makes one
    owner: str = "hawser"

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> NetworkRequest:
        configs = (body.get("IPAM") or {}).get("Config") or []
        if len(configs) > 1:
            ipam.check_one_pool([str(c.get("Subnet") or "") for c in configs])
        cfg = configs[0] if configs else {}
        return cls(
            name=str(body.get("Name") or ""),
            driver=str(body.get("Driver") or "bridge"),
            subnet=cfg.get("Subnet") or None,
            gateway=cfg.get("Gateway") or None,
            ip_range=cfg.get("IPRange") or None,
            aux=dict(cfg.get("AuxAddress") or cfg.get("AuxiliaryAddresses") or {}),
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
            options={str(k): str(v) for k, v in (body.get("Options") or {}).items()},
        )


def _taken_subnets(node: Node, exclude: str = "") -> list[ipaddress.IPv4Network]:
    nets = [
        ipaddress.IPv4Network(n.subnet)
        for n in node.store.networks()
        if n.subnet and n.id != exclude
    ]
    return nets


def _route_subnets(node: Node) -> list[ipaddress.IPv4Network]:
    """Destinations the node routes elsewhere than through Hawser's own bridges."""
    own = {n.bridge for n in node.store.networks() if n.bridge}
    return links.node_routes(node.ipr, except_via=own)


def _pools(node: Node) -> list[ipam.Pool]:
    custom = [ipam.parse_address_pool(spec) for spec in node.config.default_address_pool]
    return custom or list(ipam.DEFAULT_POOLS)


def taken_subnets(node: Node) -> list[ipaddress.IPv4Network]:
    """What a new network's subnet may not overlap: other networks' and the node's routes."""
    return _taken_subnets(node) + _route_subnets(node)


def free_subnet(node: Node, also_taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The next subnet of the default address pools that overlaps nothing taken."""
    return ipam.next_free_subnet(_pools(node), taken_subnets(node) + also_taken)


def rename(node: Node, net_id: str, name: str) -> bool:
    """Give a network an engine's name for it (Docker names none in its plugin calls); False
    when the name is taken or not one Hawser takes."""
    with node.lock:
        net = node.store.network(net_id)
        try:
            names.validate_network_name(name)
        except InvalidArgument:
            return False
        if net is None or any(n.name == name for n in node.store.networks()):
            return False
        old = net.name
        net.name = name
        with operation(node.store):
            node.store.put_network(net)
            for ctr in node.store.containers():
                if ctr.network_mode == old:
                    ctr.network_mode = name
                    node.store.put_container(ctr)
        log.info("network %s (%s) is named %s", old, net_id[:12], name)
        return True


def _next_key(node: Node) -> int:
    used = node.store.network_keys()
    key = 1
    while key in used:
        key += 1
    return key


NO_CLUSTER = (
    "overlay networks need a cluster store: start the daemon with "
    "--cluster-store etcd://HOST:PORT and --cluster-advertise IP|IFACE"
)


def create(node: Node, req: NetworkRequest) -> tuple[Network, str]:
    """Validate, build the bridge, fill the datapath, store; all or nothing. Another
    driver's network (``overlay``) is its driver's to make."""
    names.validate_network_name(req.name)
    driver = node.drivers.get(req.driver)
    if driver is not None:
        return driver.create_network(node, req), ""
    if req.driver != "bridge":
        if req.driver in ("host", "null"):
            raise Conflict(f'only one instance of "{req.driver}" network is allowed')
        if req.driver == OVERLAY:
            raise PrerequisiteMissing(NO_CLUSTER)
        raise NotFound(f'plugin "{req.driver}" not found')
    with node.lock:
        if any(n.name == req.name for n in node.store.networks()):
            raise Conflict(f"network with name {req.name} already exists")
        opts = netopts.parse_bridge_options(req.options)
        taken = _taken_subnets(node) + _route_subnets(node)
        config = ipam.build_ipam_config(
            req.subnet,
            req.gateway,
            req.ip_range,
            req.aux,
            lambda: ipam.next_free_subnet(_pools(node), taken),
        )
        ipam.check_overlap(config.subnet, taken)
        net_id = req.network_id or names.new_id()
        if node.store.network(net_id) is not None:
            raise Conflict(f"network with id {net_id} already exists")
        bridge = opts.bridge_name or names.bridge_name(net_id)
        if any(n.bridge == bridge for n in node.store.networks()):
            raise Conflict(f"bridge name {bridge} is already used by another network")
        owned, gateway_owned = _bridge_ownership(node, bridge, config)
        net = Network(
            id=net_id,
            name=req.name,
            key=_next_key(node),
            driver="bridge",
            created=now_iso(),
            subnet=str(config.subnet),
            gateway=str(config.gateway),
            ip_range=str(config.ip_range) if config.ip_range else "",
            aux={k: str(v) for k, v in config.aux_addresses.items()},
            internal=req.internal,
            attachable=req.attachable,
            labels=req.labels,
            options=dict(req.options),
            bridge=bridge,
            bridge_owned=owned,
            gateway_owned=gateway_owned,
            icc=opts.enable_icc,
            masquerade=opts.enable_ip_masquerade and not req.internal,
            host_binding_ipv4=str(opts.host_binding_ipv4),
            mtu=opts.mtu,
            snat_ip=str(opts.host_ipv4) if opts.host_ipv4 else "",
            ipam_config_shown=req.subnet is not None,
            gateway_given=req.gateway is not None,
            owner=req.owner,
        )
        with operation(node.store) as undo:
            build_bridge(node, net, undo)
            node.store.put_network(net)
            node.emit("network_created", net)
        return net, ""


def _bridge_ownership(node: Node, bridge: str, config: ipam.IpamConfig) -> tuple[bool, bool]:
    """Whether Hawser will make the device and the gateway address, or find them there.

    Docker adopts an existing bridge of the requested name and refuses any other kind of
    interface (an uplink, a veth, ``lo``): it must never take over, or later delete, what
    it did not make.
    """
    kind = links.link_kind(node.ipr, bridge)
    if kind is None:
        return True, True
    if kind != "bridge":
        raise InvalidArgument(f"existing interface {bridge} is not a bridge")
    present = links.has_address(node.ipr, bridge, str(config.gateway), config.subnet.prefixlen)
    return False, not present


def build_bridge(node: Node, net: Network, undo: Undo | None = None) -> None:
    """Create (or adopt) the kernel bridge and datapath entries for a bridge network (or
    the local segment of an overlay: the same bridge, its VNI in the datapath).

    Idempotent. A Hawser-made bridge gets a MAC derived from the network id and the
    network's MTU; an adopted one keeps its MAC (pinned) and MTU. An adopted bridge that
    has vanished is made again, and from then on it is Hawser's.
    """
    existed = links.ifindex(node.ipr, net.bridge) is not None
    if not existed and not net.bridge_owned:
        net.bridge_owned = net.gateway_owned = True
        if node.store.network(net.id) is not None:
            node.store.put_network(net)
    prefix = ipaddress.IPv4Network(net.subnet).prefixlen
    owned = net.bridge_owned
    index = links.ensure_bridge(
        node.ipr,
        net.bridge,
        net.gateway,
        prefix,
        net.mtu if owned else None,
        bridge_mac(net.id) if owned else None,
    )
    if undo is not None and not existed:
        undo.push(links.delete_link, node.ipr, net.bridge)
    elif undo is not None and net.gateway_owned:
        undo.push(links.delete_address, node.ipr, net.bridge, net.gateway, prefix)
    node.datapath.set_network(
        net.key,
        net.subnet,
        net.gateway,
        links.link_mac(node.ipr, index),
        icc=net.icc,
        masquerade=net.masquerade,
        internal=net.internal,
        snat_ip=net.snat_ip or None,
        vni=net.vni,
        mtu=net.tunnel_mtu,
    )
    if undo is not None:
        undo.push(node.datapath.delete_network, net.key)
    refresh_node_addresses(node)


def local_subnets(node: Node, exclude: str = "") -> list[ipaddress.IPv4Network]:
    """Subnets this node's networks (but ``exclude``) and routes use."""
    return _taken_subnets(node, exclude) + _route_subnets(node)


def apply_network(node: Node, net: Network) -> Network:
    """Make on this node, or bring up to date, a network another driver describes (an
    overlay from the cluster store): bridge, datapath entry and row, all or nothing. A new
    one gets the next free key; a network of the same name, or a subnet it overlaps,
    refuses it."""
    with node.lock:
        old = node.store.network(net.id)
        if old is None:
            if any(n.name == net.name for n in node.store.networks()):
                raise Conflict(f"network with name {net.name} already exists")
            ipam.check_overlap(ipaddress.IPv4Network(net.subnet), local_subnets(node, net.id))
            net.key = _next_key(node)
        else:
            net.key = old.key
            if old.subnet != net.subnet:
                node.datapath.delete_subnet(old.subnet)
        with operation(node.store) as undo:
            build_bridge(node, net, undo if old is None else None)
            node.store.put_network(net)
            if old is None:
                node.emit("network_created", net)
        return net


def withdraw_network(node: Node, net_id: str) -> Network | None:
    """Remove a network another driver no longer describes (refused while this node has
    endpoints on it); the network removed, None when there was none."""
    with node.lock:
        net = node.store.network(net_id)
        if net is None:
            return None
        _drop(node, net)
        return net


def bridge_mac(network_id: str) -> str:
    """A stable, locally administered unicast MAC for a network's bridge."""
    return "02:" + ":".join(network_id[i : i + 2] for i in range(0, 10, 2))


def refresh_node_addresses(node: Node) -> None:
    addresses = {addr for _, addr, _ in links.node_addresses(node.ipr)}
    node.datapath.set_node_addresses(sorted(addresses))


def remove(node: Node, ref: str, owner: str = "hawser") -> None:
    """Remove a network; ``owner`` is who asks (an engine removes only its own networks, the
    CLI none of an engine's)."""
    with node.lock:
        net = lookup.network(node.store, ref)
        if net.owner != owner:
            raise engines.managed_elsewhere("network", net.name, net.owner)
        driver = node.drivers.get(net.driver)
    if driver is not None:
        driver.remove_network(node, net)  # it waits for the change to come back: no lock
        return
    with node.lock:
        net = lookup.network(node.store, ref)
        if net.builtin:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        _drop(node, net)


def _drop(node: Node, net: Network) -> None:
    """Take a network off this node (the caller holds the lock): refused while it has
    endpoints here (Docker's text)."""
    if node.store.endpoints(network_id=net.id):
        raise network_has_endpoints(net.name, net.id)
    with operation(node.store):
        node.emit("network_removed", net)
        node.store.delete_network(net.id)
        node.datapath.delete_network(net.key)
        release_bridge(node, net)
    refresh_node_addresses(node)


def release_bridge(node: Node, net: Network) -> None:
    """Delete the bridge if Hawser made it; an adopted one only loses the gateway we added."""
    if net.bridge_owned:
        links.delete_link(node.ipr, net.bridge)
    elif net.gateway_owned:
        prefix = ipaddress.IPv4Network(net.subnet).prefixlen
        links.delete_address(node.ipr, net.bridge, net.gateway, prefix)


def prune(node: Node) -> list[str]:
    deleted = []
    with node.lock:
        for net in node.store.networks():
            # a global network may be in use on other nodes: not this node's to prune
            if (
                net.builtin
                or net.engine_owned
                or net.scope != "local"
                or node.store.endpoints(network_id=net.id)
            ):
                continue
            remove(node, net.id)
            deleted.append(net.name)
    return deleted


def ensure_builtins(node: Node) -> None:
    """The default bridge, host and none — created once, then kept as stored."""
    cfg = node.config
    with node.lock:
        existing = {n.name: n for n in node.store.networks()}
        with operation(node.store):
            for name, driver in (("host", "host"), ("none", "null")):
                if name not in existing:
                    node.store.put_network(
                        Network(
                            id=names.new_id(),
                            name=name,
                            key=_next_key(node),
                            driver=driver,
                            created=now_iso(),
                        )
                    )
            bridge = existing.get("bridge")
            wanted = _default_bridge_ipam(node, bridge)
            if bridge is None:
                bridge = Network(
                    id=names.new_id(),
                    name="bridge",
                    key=_next_key(node),
                    driver="bridge",
                    created=now_iso(),
                    bridge=DEFAULT_BRIDGE_DEVICE,
                )
            bridge.subnet, bridge.gateway, bridge.ip_range = wanted
            bridge.icc = bool(cfg.icc)
            bridge.masquerade = bool(cfg.ip_masq)
            bridge.mtu = int(cfg.mtu)
            bridge.host_binding_ipv4 = str(cfg.ip or "0.0.0.0")
            bridge.options = {
                netopts.BRIDGE_NAME: DEFAULT_BRIDGE_DEVICE,
                netopts.ENABLE_ICC: str(bridge.icc).lower(),
                netopts.ENABLE_IP_MASQUERADE: str(bridge.masquerade).lower(),
                netopts.HOST_BINDING_IPV4: bridge.host_binding_ipv4,
                netopts.DRIVER_MTU: str(bridge.mtu),
                "com.docker.network.bridge.default_bridge": "true",
            }
            node.store.put_network(bridge)


def _default_bridge_ipam(node: Node, current: Network | None) -> tuple[str, str, str]:
    cfg = node.config
    if cfg.bip:
        iface = ipaddress.IPv4Interface(cfg.bip)
        subnet, gateway = str(iface.network), str(iface.ip)
    elif current is not None and current.subnet:
        subnet, gateway = current.subnet, current.gateway
    else:
        exclude = current.id if current else ""
        taken = _taken_subnets(node, exclude) + _route_subnets(node)
        net = ipam.next_free_subnet(_pools(node), taken)
        subnet, gateway = str(net), str(net.network_address + 1)
    ip_range = ""
    if cfg.fixed_cidr:
        rng = ipaddress.IPv4Network(cfg.fixed_cidr, strict=False)
        if not rng.subnet_of(ipaddress.IPv4Network(subnet)):
            raise InvalidArgument(f"--fixed-cidr {cfg.fixed_cidr} is not inside {subnet}")
        ip_range = str(rng)
    return subnet, gateway, ip_range


VXLAN_IDS = "com.docker.network.driver.overlay.vxlanid_list"


def inspect(node: Node, net: Network) -> dict[str, Any]:
    containers: dict[str, Any] = {}
    for ep in node.store.endpoints(network_id=net.id):
        ctr = node.store.container(ep.container_id)
        containers[ep.container_id] = {
            "Name": ctr.name if ctr else "",
            "EndpointID": ep.id,
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ip}/{ep.prefixlen}",
            "IPv6Address": "",
        }
    options = dict(net.options)
    if net.is_overlay:
        # endpoints on other nodes, keyed as Docker's classic overlay showed them
        prefix = ipaddress.IPv4Network(net.subnet).prefixlen
        for rep in node.remote_endpoints():
            if rep.network_id == net.id:
                containers[f"ep-{rep.id}"] = {
                    "Name": rep.name,
                    "EndpointID": rep.id,
                    "MacAddress": rep.mac,
                    "IPv4Address": f"{rep.ip}/{prefix}",
                    "IPv6Address": "",
                }
        options.setdefault(VXLAN_IDS, str(net.vni))
    config: list[dict[str, Any]] = []
    if net.subnet:
        entry: dict[str, Any] = {"Subnet": net.subnet}
        if net.ip_range:
            entry["IPRange"] = net.ip_range
        if not net.ipam_config_shown or net.name == "bridge" or net.gateway_given:
            entry["Gateway"] = net.gateway
        if net.aux:
            entry["AuxiliaryAddresses"] = dict(net.aux)
        config.append(entry)
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": net.scope,
        "Driver": net.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": {} if net.name != "bridge" else None,
            "Config": config,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": dict(net.labels),
    }
