"""Sandboxes an engine owns: Docker's (through its remote driver) and a CNI runtime's.

The engine made the netns and runs the processes; Hawser makes for them what it makes for
its own containers on a bridge network — the veth, the address, the datapath entries, the
published ports and the store rows — and never creates, deletes or runs anything in their
netns. Such a container is a store row with ``owner`` ``docker`` or ``cni``: ``hawser ps``,
``port``, ``inspect``, the ``bpf`` views and ``/metrics`` show it like any other, and only
its engine changes it (the CLI's verbs that would are refused).

How the veth is made differs (``plumb``): Docker moves the container end itself (both ends
are made in the node, the peer named ``hwp…``), a CNI plugin must hand over a configured
interface (made from inside the runtime's netns, as ``run`` does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from controller.errors import Conflict, InvalidArgument
from controller.kernel import links
from controller.kernel.links import VethSpec
from controller.ops import endpoints, ports
from controller.ops.node import Node
from controller.rules import names, portspec
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import Port, PortBinding
from controller.rules.timestamps import now_iso
from controller.store.transaction import Undo, operation

log = logging.getLogger(__name__)

ENGINES = {"docker": "Docker", "cni": "its CNI runtime"}
_FULL_ID = re.compile(r"[0-9a-f]{64}")

#: Makes an endpoint's veth; returns the ifindex of its host end in the node.
Plumb = Callable[[VethSpec], int]


def managed_elsewhere(kind: str, name: str, owner: str) -> Conflict:
    """The refusal of a CLI verb on an engine's object."""
    engine = ENGINES.get(owner, owner)
    return Conflict(f"{kind} {name} is managed by {engine}: change it there, not with hawser")


def check_network(net: Network, owner: str) -> None:
    """An engine attaches to user-defined bridge networks: Hawser's, or its own; a network an
    engine made takes only that engine's containers (its addresses are that engine's IPAM's)."""
    if not net.is_bridge or net.builtin:
        raise InvalidArgument(f"network {net.name} is not a user-defined bridge network")
    if net.engine_owned and net.owner != owner:
        raise managed_elsewhere("network", net.name, net.owner)


def new_sandbox(
    node: Node,
    owner: str,
    *,
    engine_id: str,
    sandbox_key: str,
    network: Network,
    name: str = "",
) -> Container:
    """A row for an engine's sandbox (not stored yet). Its id is the engine's when that is a
    free 64-hex id (podman's, Docker's), its name the engine's when valid and free."""
    ctr_id = engine_id if _FULL_ID.fullmatch(engine_id) else ""
    if not ctr_id or node.store.container(ctr_id) is not None:
        ctr_id = names.new_id()
    if not _free_name(node, name):
        name = f"{owner}-{ctr_id[:12]}"
    now = now_iso()
    return Container(
        id=ctr_id,
        name=name,
        created=now,
        network_mode=network.name,
        hostname="",
        netns="",
        status="running",
        started=now,
        owner=owner,
        engine_id=engine_id,
        sandbox_key=sandbox_key,
    )


def _free_name(node: Node, name: str) -> bool:
    if not name:
        return False
    try:
        names.validate_container_name(name)
    except InvalidArgument:
        return False
    return node.store.container_by_name(name) is None


def attach(
    node: Node,
    undo: Undo,
    ctr: Container,
    net: Network,
    plumb: Plumb,
    *,
    ifname: str,
    ip: str | None = None,
    mac: str | None = None,
    endpoint_id: str | None = None,
    default_route: bool = True,
) -> Endpoint:
    """An endpoint of ``ctr`` on ``net``: address (``ip`` or the next free one), veth made by
    ``plumb``, bridge port, datapath entry, row; every step registers its undo."""
    node.store.put_container(ctr)
    ep = endpoints.prepare(node, ctr, net, requested_ip=ip)
    ep.ifname = ifname
    if mac:
        ep.mac = mac
    if endpoint_id:
        ep.id, ep.host_ifname = endpoint_id, names.veth_name(endpoint_id)
    undo.push(links.delete_link, node.ipr, ep.host_ifname)
    index = plumb(endpoints.veth_spec(ep, net, default_route and not net.internal))
    endpoints.finish(node, net, ep, undo, index)
    node.emit("endpoint_added", ctr, net, ep)
    return ep


def publish(
    node: Node,
    undo: Undo,
    ctr: Container,
    ep: Endpoint,
    asked: list[PortBinding],
    exposed: Iterable[Port] = (),
) -> list[PortBinding]:
    """Publish the engine's asked bindings on ``ep`` (Hawser picks open host ports), in place
    of any it published before; returns the bound ones."""
    withdraw(node, undo, ctr)
    portspec.require_datapath_protocols(asked)
    net = node.store.network(ep.network_id)
    bound = ports.allocate(node, asked, net.host_binding_ipv4 if net else "")
    node.store.set_port_requests(ctr.id, asked)
    ports.publish(node, undo, ctr, ep, bound)
    shown = dict.fromkeys(portspec.exposed([], asked))
    shown.update(dict.fromkeys(exposed))
    ctr.expose = list(shown)
    node.store.put_container(ctr)
    return bound


def withdraw(node: Node, undo: Undo | None, ctr: Container) -> None:
    """Unpublish every port of ``ctr`` (map entries, rows)."""
    if ctr.ports_endpoint:
        served = [ep for ep in node.store.endpoints(container_id=ctr.id)
                  if ep.id == ctr.ports_endpoint]  # fmt: skip
        for ep in served:
            ports.unserve(node, ctr, ep, undo)
        ctr.ports_endpoint = ""
    node.store.clear_bindings(ctr.id)
    ctr.expose = []
    node.store.put_container(ctr)


def detach(node: Node, ctr: Container, ep: Endpoint) -> None:
    """Remove one endpoint (its ports if it serves them, veth, entries, row); the sandbox's
    row goes with its last endpoint. Inside an operation."""
    if ctr.ports_endpoint == ep.id:
        withdraw(node, None, ctr)
    net = node.store.network(ep.network_id)
    if net is not None:
        node.emit("endpoint_removed", ctr, net, ep)
    endpoints.detach(node, ep)
    if not node.store.endpoints(container_id=ctr.id):
        node.emit("container_removed", ctr)
        node.store.delete_container(ctr.id)


def endpoint_of(node: Node, endpoint_id: str) -> tuple[Container, Endpoint] | None:
    ep = node.store.endpoint(endpoint_id)
    ctr = node.store.container(ep.container_id) if ep is not None else None
    return (ctr, ep) if ctr is not None and ep is not None else None


def take_identity(node: Node, ctr_id: str, engine_id: str, name: str) -> bool:
    """Give an engine's sandbox the engine's own id and name, once the engine tells them
    (Docker names neither in its plugin calls); False when either is taken or it is gone."""
    with node.lock:
        ctr = node.store.container(ctr_id)
        if ctr is None or not ctr.engine_owned:
            return False
        new_id = engine_id if _FULL_ID.fullmatch(engine_id) else ctr.id
        if new_id != ctr.id and node.store.container(new_id) is not None:
            return False
        other = node.store.container_by_name(name)
        if other is not None and other.id != ctr.id:
            return False
        try:
            names.validate_container_name(name)
        except InvalidArgument:
            return False
        old_id = ctr.id
        ctr.id, ctr.name, ctr.engine_id = new_id, name, engine_id
        with operation(node.store):
            node.store.rekey_container(old_id, ctr)
        log.info("%s sandbox %s is container %s (%s)", ctr.owner, old_id[:12], name, new_id[:12])
        return True


def reap(node: Node) -> int:
    """Endpoints of engine sandboxes whose veth is gone: the engine deleted the netns (the
    veth dies with it) while Hawser was not looking. Their rows, entries and ports go."""
    gone = 0
    with node.lock:
        for ctr in node.store.containers():
            if not ctr.engine_owned:
                continue
            for ep in node.store.endpoints(container_id=ctr.id):
                if links.ifindex(node.ipr, ep.host_ifname) is not None:
                    continue
                log.info("%s endpoint %s of %s lost its veth: removed", ctr.owner, ep.id[:12],
                         ctr.name)  # fmt: skip
                with operation(node.store):
                    detach(node, ctr, ep)
                gone += 1
                ctr = node.store.container(ctr.id) or ctr
    return gone
