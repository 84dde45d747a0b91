"""Global (overlay) network documents in etcd: create, find, list, remove.

Creating a network is one transaction that claims its name, a VNI and its subnet and writes
the document, or does nothing:

    if  network-names/NAME absent                     (else: Docker's "already exists")
    and vnis/VNI absent                               (else: another node took it: retry)
    and nothing under subnets/ changed since the read (else: retry; overlap re-checked)
    and networks/ID absent
    then put networks/ID, network-names/NAME, vnis/VNI, subnets/CIDR

Removing is one transaction too, refused while any endpoint of the network exists on any
node (``endpoints/ID/`` empty is part of the compare), so that a node can never attach to
a network that is being removed, nor remove one that another node just attached to.
Network documents, names, VNIs and subnets carry no lease: they belong to the cluster, not
to the node that made them.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from controller.cluster import pools
from controller.cluster.client import Store
from controller.cluster.txn import KV, Compare, Delete, Get, Put
from controller.errors import Conflict, NotFound, StoreError, network_has_endpoints
from controller.rules import ipam, names

DRIVER = "overlay"
SCOPE = "global"
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class NetworkSpec:
    """What ``network create -d overlay`` asks for (validated like a local network's)."""

    name: str
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalNetwork:
    id: str
    name: str
    vni: int
    subnet: str
    gateway: str
    ip_range: str | None
    aux_addresses: dict[str, str]
    internal: bool
    attachable: bool
    options: dict[str, str]
    labels: dict[str, str]
    created: float  # seconds since the epoch
    driver: str = DRIVER
    create_revision: int = 0  # etcd's, not stored in the document
    mod_revision: int = 0

    def ipam_config(self) -> ipam.IpamConfig:
        return ipam.IpamConfig(
            subnet=IPv4Network(self.subnet),
            gateway=IPv4Address(self.gateway),
            ip_range=IPv4Network(self.ip_range) if self.ip_range else None,
            aux_addresses={k: IPv4Address(v) for k, v in self.aux_addresses.items()},
        )

    def document(self) -> str:
        doc = asdict(self)
        del doc["create_revision"], doc["mod_revision"]
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_kv(cls, kv: KV) -> GlobalNetwork:
        doc: dict[str, Any] = kv.json()
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known, create_revision=kv.create_revision, mod_revision=kv.mod_revision)


def create(
    store: Store,
    spec: NetworkSpec,
    net_id: str | None = None,
    local: Iterable[IPv4Network] = (),
) -> GlobalNetwork:
    """``local``: subnets the creating node uses for itself (its local networks and routes):
    a default subnet avoids them, a given one overlapping them is refused."""
    keys = store.keys
    names.validate_network_name(spec.name)
    local = list(local)
    net_id = net_id or names.new_id()
    for _ in range(MAX_ATTEMPTS):
        holder = store.get(keys.network_name(spec.name))
        if holder is not None:
            mine = store.get(keys.network(net_id)) if holder.text() == net_id else None
            if mine is not None:  # an earlier try went through; its answer was lost
                return GlobalNetwork.from_kv(mine)
            raise Conflict(f"network with name {spec.name} already exists")
        claims, seen = store.range(keys.kind("subnets"), keys_only=True)
        taken = [keys.subnet_of(kv.key.rsplit("/", 1)[1]) for kv in claims] + local
        config = ipam.build_ipam_config(
            spec.subnet,
            spec.gateway,
            spec.ip_range,
            spec.aux_addresses,
            functools.partial(pools.global_subnet, taken),
        )
        if spec.subnet is not None:
            ipam.check_overlap(config.subnet, taken)
        vnis, _ = store.range(keys.kind("vnis"), keys_only=True)
        vni = pools.lowest_free_vni(keys.vni_of(kv.key.rsplit("/", 1)[1]) for kv in vnis)
        net = GlobalNetwork(
            id=net_id,
            name=spec.name,
            vni=vni,
            subnet=str(config.subnet),
            gateway=str(config.gateway),
            ip_range=str(config.ip_range) if config.ip_range else None,
            aux_addresses={k: str(v) for k, v in config.aux_addresses.items()},
            internal=spec.internal,
            attachable=spec.attachable,
            options=dict(spec.options),
            labels=dict(spec.labels),
            created=time.time(),
        )
        result = store.txn(
            [
                Compare.absent(keys.network_name(spec.name)),
                Compare.absent(keys.vni(vni)),
                Compare.unchanged_since(keys.kind("subnets"), seen),
                Compare.absent(keys.network(net_id)),
            ],
            [
                Put(keys.network(net_id), net.document()),
                Put(keys.network_name(spec.name), net_id),
                Put(keys.vni(vni), net_id),
                Put(keys.subnet(config.subnet), net_id),
            ],
        )
        if result.succeeded:
            return replace(net, create_revision=result.revision, mod_revision=result.revision)
        # lost a race: for the name (refused at the top of the loop), a VNI or a subnet
    raise StoreError(f"cluster store {store.url}: could not create network {spec.name}: contention")


def list_all(store: Store) -> list[GlobalNetwork]:
    kvs, _ = store.range(store.keys.kind("networks"))
    return sorted((GlobalNetwork.from_kv(kv) for kv in kvs), key=lambda n: (n.created, n.name))


def find(store: Store, name_or_id: str) -> GlobalNetwork:
    """By exact name, exact id or unique id prefix, as Docker resolves a network."""
    keys = store.keys
    by_name = store.get(keys.network_name(name_or_id)) if name_or_id else None
    if by_name is not None:
        kv = store.get(keys.network(by_name.text()))
        if kv is not None:
            return GlobalNetwork.from_kv(kv)
    if len(name_or_id) == 64:
        kv = store.get(keys.network(name_or_id))
        if kv is not None:
            return GlobalNetwork.from_kv(kv)
    if name_or_id:
        matches = [n for n in list_all(store) if n.id.startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
    raise NotFound(f"network {name_or_id} not found")


def remove(store: Store, name_or_id: str) -> GlobalNetwork:
    keys = store.keys
    for _ in range(MAX_ATTEMPTS):
        net = find(store, name_or_id)
        result = store.txn(
            [
                Compare.mod_revision(keys.network(net.id), "EQUAL", net.mod_revision),
                Compare.empty(keys.endpoints(net.id)),
            ],
            [
                Delete(keys.network(net.id)),
                Delete(keys.network_name(net.name)),
                Delete(keys.vni(net.vni)),
                Delete(keys.subnet(IPv4Network(net.subnet))),
                Delete(keys.addresses(net.id), prefix=True),
                Delete(keys.names(net.id), prefix=True),
            ],
            [Get(keys.endpoints(net.id), prefix=True, keys_only=True)],
        )
        if result.succeeded:
            return net
        if result.kvs(0):
            raise network_has_endpoints(net.name, net.id)
    raise StoreError(f"cluster store {store.url}: could not remove network {name_or_id}")
