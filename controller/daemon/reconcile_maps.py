"""Make the controller-written BPF maps equal to what the store justifies.

An operation writes the pinned maps before its store transaction commits, so a daemon
killed in between leaves entries whose rows were rolled back: a published port that
forwards to an address the next container gets, an endpoint that no longer exists.
``sync`` derives every entry from the store, rewrites the ones that are missing or
different and deletes the rest, together with the flows (CT, NAT, sock entries) of
addresses no endpoint owns any more. It runs after the first full sync and with every
periodic repair, under the node's lock, so no operation is half-way through.

Maps and where their wanted entries come from:

- ``hawser_networks`` / ``hawser_subnets``: bridge networks and the overlays applied on this
  node (rewritten by ``build_bridge``);
- ``hawser_endpoints`` (+ ``hawser_endpoint_stats`` keys): endpoints whose host veth exists;
- ``hawser_tunnel``: the remote endpoints of the overlays, as ``Node.tunnel_entries`` says
  (the overlay plugin's view of the cluster store; without a cluster store, none). While that
  view is not known (no full sync with the store yet: etcd unreachable since the start) the
  map is left as it is, so established flows to other nodes keep their entries;
- ``hawser_sandbox_dns``: its only writer, the DNS plugin, resyncs on ``resynced``;
- ``hawser_ports`` (+ ``hawser_port_stats`` keys): a container's bound bindings, served by
  the endpoint the container names (``ports_endpoint``, decided in ``ops.ports``);
- ``hawser_node_addrs``: recomputed by the datapath from addresses, uplinks and gateways;
- ``hawser_policy``: its only writer, ``controller.ops.linkpolicy``, resyncs on ``resynced``;
- ``hawser_uplinks``: the uplink scan (``prune_uplinks``), which alone knows the uplinks.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from controller.datapath.types import PortMapping, TunnelEntry
from controller.kernel import links
from controller.ops import networks, ports
from controller.ops.node import Node
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding

log = logging.getLogger(__name__)


class EndpointEntry(NamedTuple):
    ifindex: int
    network: int
    mac: str


def wanted_networks(nets: Iterable[Network]) -> dict[int, dict[str, Any]]:
    """network key → the row ``Datapath.networks()`` shows for it."""
    out = {}
    for net in nets:
        if not net.has_bridge or not net.subnet:
            continue
        out[net.key] = {
            "key": net.key,
            "subnet": str(ipaddress.IPv4Network(net.subnet)),
            "gateway": net.gateway,
            "bridge_mac": networks.bridge_mac(net.id),
            "snat_ip": net.snat_ip or None,
            "icc": net.icc,
            "masquerade": net.masquerade and not net.internal,
            "internal": net.internal,
            "vni": net.vni,
            "mtu": net.tunnel_mtu,
        }
    return out


def wanted_endpoints(
    nets: Iterable[Network], endpoints: Iterable[Endpoint], index_of: dict[str, int]
) -> dict[str, EndpointEntry]:
    """IP → entry for every endpoint of a bridge network (or an overlay) whose host veth
    exists."""
    keys = {n.id: n.key for n in nets if n.has_bridge}
    out = {}
    for ep in endpoints:
        index = index_of.get(ep.host_ifname)
        if ep.network_id in keys and index:
            out[ep.ip] = EndpointEntry(index, keys[ep.network_id], ep.mac)
    return out


def wanted_ports(
    bindings: Mapping[str, list[PortBinding]],
    containers: Iterable[Container],
    endpoints: Iterable[Endpoint],
    index_of: dict[str, int],
) -> dict[tuple[str, str, int], PortMapping]:
    """(proto, host IP, host port) → entry to the endpoint serving its container's ports."""
    by_id = {ep.id: ep for ep in endpoints}
    out = {}
    for ctr in containers:
        ep = by_id.get(ctr.ports_endpoint)
        if ep is None or not ep.ifindex or index_of.get(ep.host_ifname) != ep.ifindex:
            continue
        for entry in ports.mappings(bindings.get(ctr.id, []), ep):
            out[(entry.proto, entry.host_ip, entry.host_port)] = entry
    return out


def _link_indexes(node: Node) -> dict[str, int]:
    return {name: index for name, (index, _) in links.links_by_name(node.ipr).items()}


def sync(node: Node) -> Counter[str]:
    """Rewrite what the store wants and is missing or wrong; delete what it does not want."""
    counts: Counter[str] = Counter()
    with node.lock:
        store, dp = node.store, node.datapath
        nets = store.networks()
        eps = store.endpoints()
        index_of = _link_indexes(node)
        hawser_subnets = {ipaddress.IPv4Network(s) for s in dp.subnets()}
        _sync_networks(node, nets, counts)
        want_eps = wanted_endpoints(nets, eps, index_of)
        _sync_endpoints(node, want_eps, counts)
        want_ports = wanted_ports(store.all_bindings(), store.containers(), eps, index_of)
        _sync_ports(node, want_ports, counts)
        remote = _sync_tunnel(node, counts)
        hawser_subnets |= {ipaddress.IPv4Network(n.subnet) for n in nets if n.subnet}
        gateways = {n.gateway for n in nets if n.gateway}
        _flush_dead_flows(node, set(want_eps) | gateways | remote, hawser_subnets, counts)
        networks.refresh_node_addresses(node)
        node.emit("resynced")
    changed = +counts
    if changed:
        log.warning("datapath maps made to match the store: %s", dict(changed))
    return changed


def _sync_networks(node: Node, nets: list[Network], counts: Counter[str]) -> None:
    dp = node.datapath
    want = wanted_networks(nets)
    have = {int(row["key"]): row for row in dp.networks()}
    by_key = {n.key: n for n in nets}
    for key, row in want.items():
        if have.get(key) != row:
            networks.build_bridge(node, by_key[key])
            counts["networks rewritten"] += 1
    for key in set(have) - set(want):
        dp.delete_network(key)
        counts["networks deleted"] += 1
    want_lpm = {row["subnet"]: key for key, row in want.items()}
    for subnet, key in dp.subnets().items():
        if want_lpm.get(subnet) != key:
            dp.delete_subnet(subnet)
            counts["subnets deleted"] += 1


def _sync_endpoints(node: Node, want: dict[str, EndpointEntry], counts: Counter[str]) -> None:
    dp = node.datapath
    have = {
        str(row["ip"]): EndpointEntry(int(row["ifindex"]), int(row["network"]), str(row["mac"]))
        for row in dp.endpoints()
    }
    for ip, entry in want.items():
        if have.get(ip) != entry:
            dp.attach_endpoint(entry.ifindex, ip, entry.mac, entry.network)
            counts["endpoints rewritten"] += 1
    for ip in set(have) - set(want):
        dp.forget_endpoint(ip)
        counts["endpoints deleted"] += 1
    live = {entry.ifindex for entry in want.values()}
    for row in dp.endpoint_stats():
        if int(row["ifindex"]) not in live:
            dp.forget_endpoint_stats(int(row["ifindex"]))
            counts["endpoint stats deleted"] += 1


def _sync_ports(
    node: Node, want: dict[tuple[str, str, int], PortMapping], counts: Counter[str]
) -> None:
    dp = node.datapath
    have = {
        (str(r["proto"]), str(r["host_ip"]), int(r["host_port"])): PortMapping(
            str(r["proto"]),
            str(r["host_ip"]),
            int(r["host_port"]),
            str(r["backend_ip"]),
            int(r["backend_port"]),
            int(r["ifindex"]),
        )
        for r in dp.ports()
    }
    wrong = [m for key, m in want.items() if have.get(key) != m]
    if wrong:
        dp.add_ports(wrong)
        counts["ports rewritten"] += len(wrong)
    stale = [m for key, m in have.items() if key not in want]
    stale += [
        PortMapping(str(r["proto"]), str(r["host_ip"]), int(r["host_port"]), "0.0.0.0", 0, 0)
        for r in dp.port_stats()
        if (str(r["proto"]), str(r["host_ip"]), int(r["host_port"])) not in want
        and (str(r["proto"]), str(r["host_ip"]), int(r["host_port"])) not in have
    ]
    if stale:
        dp.delete_ports(stale)  # the port entry and its counters
        counts["ports deleted"] += len(stale)


def _sync_tunnel(node: Node, counts: Counter[str]) -> set[str]:
    """Make the tunnel map what the cluster view wants; the remote addresses it keeps."""
    with node.tunnel_lock:
        return _sync_tunnel_locked(node, counts)


def _sync_tunnel_locked(node: Node, counts: Counter[str]) -> set[str]:
    dp = node.datapath
    have = {
        str(r["ip"]): TunnelEntry(str(r["node"]), int(r["vni"]), str(r["mac"])) for r in dp.tunnel()
    }
    want = node.tunnel_entries()
    if want is None:  # not known yet: keep what is there
        return set(have)
    wrong = {ip: entry for ip, entry in want.items() if have.get(ip) != entry}
    if wrong:
        dp.set_tunnel_endpoints(wrong)
        counts["tunnel entries rewritten"] += len(wrong)
    stale = [ip for ip in have if ip not in want]
    if stale:
        dp.delete_tunnel_endpoints(stale)
        counts["tunnel entries deleted"] += len(stale)
    return set(want)


def _flush_dead_flows(
    node: Node,
    live: set[str],
    subnets: set[ipaddress.IPv4Network],
    counts: Counter[str],
) -> None:
    """Delete flows of Hawser-subnet addresses that no endpoint (or gateway) owns."""
    dead = []
    for addr in node.datapath.flow_addresses():
        ip = ipaddress.IPv4Address(addr)
        if addr not in live and any(ip in net for net in subnets):
            dead.append(addr)
    if dead:
        node.datapath.flush_ct_for(*dead)
        counts["flows of gone addresses flushed"] += len(dead)


def prune_uplinks(node: Node) -> int:
    """Delete uplink entries for interfaces that are not (or no longer) attached uplinks.

    The tc filter goes too when the interface still exists and carries our from-uplink
    program; an index that now names another link (a veth) keeps its own program.
    """
    dp = node.datapath
    attached = {index for index, _ in node.uplinks.values()}
    removed = 0
    for index in set(dp.uplinks()) - attached:
        if "hawser_from_uplink" in dp.tc_programs(index):
            dp.detach_uplink(index)
        else:
            dp.forget_uplink(index)
        log.info("uplink entry for ifindex %d removed (no such uplink)", index)
        removed += 1
    return removed
