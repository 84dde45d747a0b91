"""Published ports: host port allocation, the endpoint that serves them, their map entries.

A container's asked bindings (``rules.portspec.PortBinding`` from ``-p``, ``-P`` or a plugin)
are allocated once, all or nothing, following Docker's rules: a port another container holds
is "already allocated", a port a process of the node holds is "already in use", a host
address the node does not have "cannot be assigned". The bound bindings are stored, and the
datapath's port map gets one entry each, pointing at the serving endpoint.

Which endpoint serves a container's ports is decided here alone and stored on the container
(``Container.ports_endpoint``): the endpoint ``run`` makes; when it is disconnected the ports
stop, and the next endpoint connected while none serves takes them.

Cost: O(N) for N ports — conflicts with other containers from one store query, the node's
sockets from a bind() probe per port for a few ports or one read of its socket tables for
many (``kernel.sockets``), one batch write of the map.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from controller.datapath.types import PortMapping
from controller.errors import Conflict, HawserError, InvalidArgument
from controller.kernel.sockets import PROBES_BEFORE_TABLES, HostPorts
from controller.ops.node import Node
from controller.rules.model import Container, Endpoint
from controller.rules.portspec import ANY_ADDRESS, DATAPATH_PROTOCOLS, PortBinding
from controller.store.transaction import Undo

EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def ephemeral_port_range(path: str = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ephemeral range, where ``-P`` and ``-p 80`` take their host ports."""
    with open(path, encoding="ascii") as fh:
        fields = fh.read().split()
    low, high = int(fields[0]), int(fields[1])
    if not 0 < low <= high <= 65535:
        raise HawserError(f"invalid ephemeral port range in {path}: {low} {high}")
    return low, high


class PortAllocator:
    """Host ports for one container's asked bindings.

    ``taken``: proto → host port → host addresses other containers are bound to.
    Conflicts with what exists (other containers, the node's sockets, its addresses) are
    looked for first, over all fixed ports at once (set operations); only then are the open
    ports chosen and the container's own bindings checked against each other, in order.
    Nothing is claimed outside this object: the caller stores what ``allocate`` returns.
    """

    def __init__(
        self,
        taken: Mapping[str, dict[int, set[str]]],
        ephemeral: tuple[int, int],
        host: HostPorts | None = None,
    ) -> None:
        self._taken = {proto: {p: set(ips) for p, ips in by_port.items()}
                       for proto, by_port in taken.items()}  # fmt: skip
        self._ephemeral = ephemeral
        self._host = host or HostPorts()
        self._cursor: dict[tuple[str, str, int, int], int] = {}

    def allocate(self, asked: Iterable[PortBinding], default_ip: str) -> list[PortBinding]:
        """One bound binding per asked one, in order; a refusal raises and claims nothing."""
        wants = [(want, want.host_ip or default_ip) for want in asked]
        self._refuse_conflicts(wants)
        out = []
        for want, host_ip in wants:
            low, high = want.host_port_low, want.host_port_high
            if low is None or high is None:
                port = self._first_free(want.proto, host_ip, *self._ephemeral)
            elif high != low:
                port = self._first_free(want.proto, host_ip, low, high)
            else:
                port = low
                if self._allocated(want.proto, host_ip, port):  # twice in this container
                    raise Conflict(f"Bind for {host_ip}:{port} failed: port is already allocated")
            self._claim(want.proto, host_ip, port)
            out.append(PortBinding(want.proto, want.container_port, host_ip, port, port))
        return out

    def _refuse_conflicts(self, wants: list[tuple[PortBinding, str]]) -> None:
        """Raise for the first fixed port (in asked order) that exists elsewhere: another
        container's (from the store), a node address missing, then a node socket's, looked
        for only before the first of those."""
        fixed: dict[tuple[str, str], dict[int, int]] = {}  # (proto, ip) → port → first index
        for i, (want, host_ip) in enumerate(wants):
            low = want.host_port_low
            if low is not None and low == want.host_port_high:
                fixed.setdefault((want.proto, host_ip), {}).setdefault(low, i)
        found: list[tuple[int, HawserError]] = []
        no_address = set()
        for (proto, host_ip), ports in fixed.items():
            if self._host.address_errno(proto, host_ip) == errno.EADDRNOTAVAIL:
                i = min(ports.values())
                found.append((i, _no_address(proto, host_ip, wants[i][0].host_port)))
                no_address.add((proto, host_ip))
                continue
            blocked = self._blocked(proto, host_ip) & ports.keys()
            if blocked:
                port = min(blocked, key=ports.__getitem__)
                message = f"Bind for {host_ip}:{port} failed: port is already allocated"
                found.append((ports[port], Conflict(message)))
        limit = min((i for i, _ in found), default=len(wants))
        for (proto, host_ip), ports in fixed.items():
            before = {p: i for p, i in ports.items() if i < limit}
            if not before or (proto, host_ip) in no_address:
                continue
            candidates: AbstractSet[int] = before.keys()
            if len(before) > PROBES_BEFORE_TABLES:  # only what the node's socket tables show
                candidates = self._host.held(proto).keys() & candidates
            for port in sorted(candidates, key=before.__getitem__):
                if self._host.bind_errno(proto, host_ip, port):
                    message = (
                        f"failed to bind host port {host_ip}:{port}/{proto}: address already in use"
                    )
                    found.append((before[port], Conflict(message)))
                    break
        if found:
            raise min(found, key=lambda item: item[0])[1]

    def _blocked(self, proto: str, host_ip: str) -> set[int]:
        """Host ports other containers hold where ``host_ip`` would collide with them."""
        by_port = self._taken.get(proto, {})
        if host_ip == ANY_ADDRESS:
            return set(by_port)
        return {p for p, ips in by_port.items() if ANY_ADDRESS in ips or host_ip in ips}

    def _allocated(self, proto: str, host_ip: str, port: int) -> bool:
        ips = self._taken.get(proto, {}).get(port)
        if not ips:
            return False
        return host_ip == ANY_ADDRESS or ANY_ADDRESS in ips or host_ip in ips

    def _claim(self, proto: str, host_ip: str, port: int) -> None:
        self._taken.setdefault(proto, {}).setdefault(port, set()).add(host_ip)

    def _first_free(self, proto: str, host_ip: str, low: int, high: int) -> int:
        """The lowest free port of low..high; the ports an earlier request of this
        allocation passed over stay passed over (no rescans: O(range) in all)."""
        key = (proto, host_ip, low, high)
        start = self._cursor.get(key, low)
        if self._host.address_errno(proto, host_ip) == errno.EADDRNOTAVAIL:
            raise _no_address(proto, host_ip, start)
        for port in range(start, high + 1):
            if not self._allocated(proto, host_ip, port) and not self._host.bind_errno(
                proto, host_ip, port
            ):
                self._cursor[key] = port + 1
                return port
        self._cursor[key] = high + 1
        if (low, high) == self._ephemeral:
            raise Conflict("no free ports in the ephemeral range")
        raise Conflict(f"Bind for {host_ip}:{low}-{high} failed: port is already allocated")


def _no_address(proto: str, host_ip: str, port: int) -> InvalidArgument:
    return InvalidArgument(
        f"failed to bind host port {host_ip}:{port}/{proto}: cannot assign requested address"
    )


def mappings(bindings: Iterable[PortBinding], endpoint: Endpoint) -> list[PortMapping]:
    """The port map entries of bound bindings served by ``endpoint`` (datapath protocols)."""
    return [
        PortMapping(
            b.proto, b.host_ip, b.host_port, endpoint.ip, b.container_port, endpoint.ifindex
        )
        for b in bindings
        if b.proto in DATAPATH_PROTOCOLS
    ]


def allocate(node: Node, asked: list[PortBinding], default_ip: str) -> list[PortBinding]:
    """Host ports for a new container's asked bindings (before anything is built: a
    conflict is refused at once and leaves nothing to undo)."""
    if not asked:
        return []
    allocator = PortAllocator(
        {proto: node.store.bound_ports(proto) for proto in {b.proto for b in asked}},
        ephemeral_port_range(),
    )
    return allocator.allocate(asked, default_ip or ANY_ADDRESS)


def publish(
    node: Node, undo: Undo, ctr: Container, endpoint: Endpoint, bound: list[PortBinding]
) -> None:
    """Store and map a new container's allocated bindings; ``endpoint`` serves them."""
    if not bound:
        return
    node.store.add_bindings(ctr.id, bound)
    _map(node, undo, bound, endpoint)
    ctr.ports_endpoint = endpoint.id


def serve(node: Node, undo: Undo, ctr: Container, endpoint: Endpoint) -> bool:
    """A newly connected endpoint takes the ports when no endpoint serves them (stored by the
    caller with ``ctr``); True when it did."""
    if ctr.ports_endpoint:
        return False
    bound = node.store.bindings(ctr.id)
    if not bound:
        return False
    _map(node, undo, bound, endpoint)
    ctr.ports_endpoint = endpoint.id
    return True


def unserve(node: Node, ctr: Container, endpoint: Endpoint, undo: Undo | None = None) -> bool:
    """Delete the entries of ``endpoint`` if it serves the ports (stored by the caller with
    ``ctr``); True when it did."""
    if ctr.ports_endpoint != endpoint.id:
        return False
    entries = mappings(node.store.bindings(ctr.id), endpoint)
    node.datapath.delete_ports(entries)
    if undo is not None:
        undo.push(node.datapath.add_ports, entries)
    ctr.ports_endpoint = ""
    return True


def _map(node: Node, undo: Undo, bound: list[PortBinding], endpoint: Endpoint) -> None:
    entries = mappings(bound, endpoint)
    undo.push(node.datapath.delete_ports, entries)  # first: a write that fails part-way
    node.datapath.add_ports(entries)
