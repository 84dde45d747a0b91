"""`network connect` / `network disconnect`: endpoints added to or removed from a sandbox."""

from __future__ import annotations

from controller.errors import Conflict, InvalidArgument
from controller.kernel.supervisor import is_running
from controller.ops import endpoints, engines, lookup, ports
from controller.ops.node import Node
from controller.rules import names
from controller.rules.model import Container, Network
from controller.store.transaction import operation

HOST_TEXT = "container cannot be disconnected from host network or connected to host network"
SHARED_TEXT = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)
NONE_TEXT = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)


def _refuse_engines(net: Network, ctr: Container) -> None:
    if ctr.engine_owned:
        raise engines.managed_elsewhere("container", ctr.name, ctr.owner)
    if net.engine_owned:
        raise engines.managed_elsewhere("network", net.name, net.owner)


def connect(node: Node, net_ref: str, ctr_ref: str, ip: str | None, aliases: list[str]) -> None:
    for alias in aliases:
        names.validate_alias(alias)
    with node.lock:
        net = lookup.network(node.store, net_ref)
        ctr = lookup.container(node.store, ctr_ref)
        _refuse_engines(net, ctr)
        if net.driver == "host":
            raise Conflict(HOST_TEXT)
        if ctr.network_mode == "host" or ctr.owns_no_netns_mode:
            raise Conflict(SHARED_TEXT)
        if net.driver == "null" or ctr.network_mode == "none":
            raise Conflict(NONE_TEXT)
        if net.name == "bridge" and ip:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        if net.name == "bridge" and aliases:
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if not is_running(ctr):
            raise Conflict(f"Container {ctr.id} is not running")
        with operation(node.store) as undo:
            ep = endpoints.attach(node, undo, ctr, net, requested_ip=ip, aliases=aliases)
            way_out = endpoints.attach_gateway(node, undo, ctr, net)  # an overlay's
            if ports.serve(node, undo, ctr, way_out or ep):
                node.store.put_container(ctr)
            node.emit("endpoint_added", ctr, net, ep)
            if way_out is not None:
                gateway = node.store.network(way_out.network_id)
                assert gateway is not None
                node.emit("endpoint_added", ctr, gateway, way_out)


def disconnect(node: Node, net_ref: str, ctr_ref: str, force: bool) -> None:
    with node.lock:
        net = lookup.network(node.store, net_ref)
        ctr = lookup.container(node.store, ctr_ref)
        _refuse_engines(net, ctr)
        if net.driver == "host" or ctr.network_mode == "host":
            raise Conflict(HOST_TEXT)
        eps = node.store.endpoints(container_id=ctr.id, network_id=net.id)
        if not eps:
            raise Conflict(f"container {ctr.id} is not connected to network {net.name}")
        with operation(node.store) as undo:
            leaving = [eps[0]]
            gateway_ep = endpoints.gateway_unneeded(node, ctr, eps[0]) if net.is_overlay else None
            if gateway_ep is not None:  # the last overlay that needed it
                leaving.append(gateway_ep)
            for ep in leaving:
                ep_net = node.store.network(ep.network_id)
                if ports.unserve(node, ctr, ep, undo):
                    node.store.put_container(ctr)
                if ep_net is not None:
                    node.emit("endpoint_removed", ctr, ep_net, ep)
                endpoints.detach(node, ep)
