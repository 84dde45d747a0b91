"""Which names a container may resolve, and to which addresses: a pure view of the store.

Docker's rules for user-defined networks: a peer is known by its name, its
network-scoped aliases, its short id and its hostname (also suffixed with
``.<network>``), to containers that share that network only, and is answered
with its address on the shared network. A link on a user-defined network is
one more name, for the linking container only. The default bridge has no
name resolution, nor has the overlays' gateway network (``hawser_gwbridge``: its
members cannot talk to each other). On an overlay, the peers on other nodes
(``RemoteEndpoint``, from the cluster store) are known by name, aliases and short id.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.rules.model import GATEWAY_NETWORK, Container, Endpoint, Network, RemoteEndpoint


def normalize(name: str) -> str:
    return name.rstrip(".").lower()


def names_of(ctr: Container, ep: Endpoint, net: Network) -> set[str]:
    """Every name ``ctr`` answers to on ``net``."""
    base = {ctr.name, ctr.id[:12], ctr.hostname, *ep.aliases}
    base = {normalize(n) for n in base if n}
    return base | {f"{n}.{normalize(net.name)}" for n in base}


def remote_names(rep: RemoteEndpoint, net: Network) -> set[str]:
    """Every name an endpoint on another node answers to on ``net``."""
    base = {normalize(n) for n in (rep.name, rep.container, *rep.aliases) if n}
    return base | {f"{n}.{normalize(net.name)}" for n in base}


def resolves_names(net: Network) -> bool:
    return net.has_bridge and net.name not in ("bridge", GATEWAY_NETWORK)


@dataclass(frozen=True)
class Answer:
    addresses: list[str]  # A records, the network the question came in on first
    known: bool  # the name is a container name here (maybe with no address of this type)


@dataclass
class View:
    """A snapshot of networks, containers and endpoints, indexed for questions."""

    networks: dict[str, Network]
    containers: dict[str, Container]
    endpoints: list[Endpoint]
    remote: dict[str, list[RemoteEndpoint]] = field(default_factory=dict)  # by network id

    @classmethod
    def build(
        cls,
        networks: Iterable[Network],
        containers: Iterable[Container],
        endpoints: Iterable[Endpoint],
        remote: Iterable[RemoteEndpoint] = (),
    ) -> View:
        by_net: dict[str, list[RemoteEndpoint]] = {}
        for rep in remote:
            by_net.setdefault(rep.network_id, []).append(rep)
        return cls(
            {n.id: n for n in networks}, {c.id: c for c in containers}, list(endpoints), by_net
        )

    def asker(self, network_id: str, ip: str) -> Container | None:
        """The container owning ``ip`` on ``network_id`` (whose gateway was asked)."""
        for ep in self.endpoints:
            if ep.network_id == network_id and ep.ip == ip:
                return self.containers.get(ep.container_id)
        return None

    def _user_networks_of(self, ctr: Container, first: str) -> list[str]:
        ids = [
            ep.network_id
            for ep in self.endpoints
            if ep.container_id == ctr.id
            and (net := self.networks.get(ep.network_id)) is not None
            and resolves_names(net)
        ]
        return sorted(set(ids), key=lambda nid: (nid != first, ids.index(nid)))

    def _link_target(self, asker: Container, qname: str) -> Container | None:
        for spec in asker.links:
            name, _, alias = spec.rpartition(":") if ":" in spec else (spec, "", spec)
            if normalize(alias) == qname or normalize(name) == qname:
                ref = name.removeprefix("/")
                for c in self.containers.values():
                    if c.id == ref or c.name == ref:
                        return c
        return None

    def lookup(self, asker: Container, network_id: str, qname: str) -> Answer:
        """Addresses of ``qname`` for ``asker``, who asked on ``network_id``."""
        qname = normalize(qname)
        linked = self._link_target(asker, qname)
        addresses: list[str] = []
        for nid in self._user_networks_of(asker, network_id):
            net = self.networks[nid]
            for ep in self.endpoints:
                if ep.network_id != nid:
                    continue
                peer = self.containers.get(ep.container_id)
                if peer is None:
                    continue
                named = (linked is not None and peer.id == linked.id) or qname in names_of(
                    peer, ep, net
                )
                if named and ep.ip not in addresses:
                    addresses.append(ep.ip)
            for rep in self.remote.get(nid, ()):
                if qname in remote_names(rep, net) and rep.ip not in addresses:
                    addresses.append(rep.ip)
        return Answer(addresses, bool(addresses))

    def reverse(self, asker: Container, network_id: str, ip: str) -> str | None:
        """``name.network`` of the peer at ``ip`` on a network shared with ``asker``."""
        for nid in self._user_networks_of(asker, network_id):
            for ep in self.endpoints:
                if ep.network_id == nid and ep.ip == ip:
                    peer = self.containers.get(ep.container_id)
                    if peer is not None:
                        return f"{peer.name}.{self.networks[nid].name}"
            for rep in self.remote.get(nid, ()):
                if rep.ip == ip:
                    return f"{rep.name}.{self.networks[nid].name}"
        return None


def ptr_address(qname: str) -> str | None:
    """``4.3.2.1.in-addr.arpa`` → ``1.2.3.4``; None for anything else."""
    labels = normalize(qname).split(".")
    if len(labels) != 6 or labels[-2:] != ["in-addr", "arpa"]:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
    except ValueError:
        return None
