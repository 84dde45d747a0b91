"""Building a container's sandbox: its netns, its first endpoint, its published ports and
its /etc files (written while the kernel builds the rest)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.errors import HawserError
from controller.kernel import links, netns, sandbox_files
from controller.ops import endpoints, link_targets, ports
from controller.ops.link_targets import LinkTarget
from controller.ops.node import Node
from controller.rules import hostsfile, runopts
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding
from controller.store.transaction import Undo

_FILE_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hawser-files")


@dataclass
class Mode:
    """A resolved network mode and its objects."""

    kind: str  # bridge | user | host | none | container
    network: Network | None = None  # the bridge network joined (bridge, user)
    joined: Container | None = None  # the sandbox shared (container:)

    def text(self, requested: str) -> str:
        """HostConfig.NetworkMode as Docker shows it."""
        if self.joined:
            return f"container:{self.joined.id}"
        if self.kind == "bridge":
            return "default" if requested == "default" else "bridge"
        return requested


def build(
    node: Node,
    undo: Undo,
    ctr: Container,
    mode: Mode,
    endpoint_args: tuple[str | None, list[str], str],
    bound: list[PortBinding],
    targets: list[LinkTarget],
) -> None:
    """netns, endpoint (``endpoint_args``: requested IP, aliases, MAC), published ports, /etc
    files and sysctls of a new container; every step registers its undo."""
    endpoint: Endpoint | None = None
    way_out: Endpoint | None = None  # an overlay's way out (its gateway network's endpoint)
    net = mode.network
    if mode.kind in ("bridge", "user", "none"):
        inside = None
        if net is not None:
            ip, aliases, mac = endpoint_args
            endpoint = endpoints.prepare(
                node, ctr, net, requested_ip=ip, aliases=aliases, mac=mac, undo=undo
            )
            spec = endpoints.veth_spec(endpoint, net, endpoints.gives_default_route(net))
            inside = functools.partial(links.create_veth_inside, spec=spec)
            undo.push(links.delete_link, node.ipr, endpoint.host_ifname)
        undo.push(sandbox_files.remove, ctr.netns)
        files = _FILE_WRITER.submit(
            sandbox_files.write,
            ctr.netns,
            hosts_text(ctr, endpoint, targets, extra_hosts(node, ctr)),
            resolv_text(ctr),
            ctr.hostname,
        )
        undo.push(netns.remove, ctr.netns)
        try:
            host_index = netns.create(ctr.netns, inside)  # sandbox and veth in one step
        finally:
            files.result()
        if net is not None and endpoint is not None:
            endpoints.finish(node, net, endpoint, undo, host_index or 0)
            way_out = endpoints.attach_gateway(node, undo, ctr, net)  # an overlay's eth1
            ports.publish(node, undo, ctr, way_out or endpoint, bound)
    if ctr.sysctls and ctr.netns:
        netns.write_sysctls(ctr.netns, ctr.sysctls)
    if endpoint is not None and net is not None:
        node.emit("endpoint_added", ctr, net, endpoint)
        if way_out is not None:
            gateway = node.store.network(way_out.network_id)
            assert gateway is not None
            node.emit("endpoint_added", ctr, gateway, way_out)
    node.emit("container_created", ctr)


def extra_hosts(node: Node, ctr: Container) -> list[tuple[str, str]]:
    """``--add-host`` records, ``host-gateway`` as the default bridge's gateway (Docker's
    default host-gateway address: the node, as containers on ``bridge`` reach it)."""
    out = []
    for entry in ctr.extra_hosts:
        name, _, ip = entry.partition(":")
        if ip == runopts.HOST_GATEWAY:
            bridge = next((n for n in node.store.networks() if n.name == "bridge"), None)
            if bridge is None or not bridge.gateway:
                raise HawserError("unable to derive the IP value for host-gateway")
            ip = bridge.gateway
        out.append((ip, name))
    return out


def hosts_text(
    ctr: Container,
    endpoint: Endpoint | None,
    targets: list[LinkTarget],
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """Docker's order: the fixed lines, ``--add-host`` records, links, the own address."""
    ips = [endpoint.ip] if endpoint else []
    records = list(extra) + link_targets.hosts_entries(targets)
    return hostsfile.render_hosts(ctr.hostname, ips, records)


def resolv_text(ctr: Container) -> str:
    return sandbox_files.resolv_text(ctr.dns, None, ctr.dns_search, ctr.dns_options)


def restore_files(node: Node, ctr: Container) -> None:
    """Write a stored sandbox's /etc files again, as ``run`` made them (reconcile)."""
    eps = node.store.endpoints(container_id=ctr.id)
    hosts = hosts_text(
        ctr, eps[0] if eps else None, link_targets.stored(node, ctr), extra_hosts(node, ctr)
    )
    sandbox_files.write(ctr.netns, hosts, resolv_text(ctr), ctr.hostname)
