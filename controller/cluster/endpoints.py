"""Endpoints of global networks: the record, its address and its name, claimed together.

Creating an endpoint is one transaction, so a failure leaves nothing behind in etcd:

    if  networks/NET still has the create revision we read  (else: the network is gone)
    and names/NET/NAME absent           (else: "service endpoint with name NAME already exists")
    and ipam/NET/IP absent              (else: another node won this address: retry)
    and endpoints/NET/EP absent
    then put ipam/NET/IP = EP, names/NET/NAME = EP, endpoints/NET/EP = record
         all three under the owning node's lease

The failure branch reads back the name, the endpoint and the network's address claims, so a
lost race costs one round trip and the next try already knows what is taken. An address is
therefore never given twice: two claims of one address cannot both find it absent.

Because all three keys hang on the node's lease, they disappear together, in one revision,
when the node's lease expires (and never before): survivors see the deletes on their watch.
Removal deletes the three in one transaction as well.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from ipaddress import IPv4Address
from typing import Any

from controller.cluster import pools
from controller.cluster.client import Store
from controller.cluster.networks import GlobalNetwork
from controller.cluster.txn import KV, Compare, Delete, Get, Put
from controller.errors import Conflict, InvalidArgument, NotFound, StoreError
from controller.rules import ipam, names
from controller.rules.ipam import mac_for

MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class EndpointSpec:
    id: str
    name: str  # the container's name: unique per network, cluster-wide
    node: str
    lease: int  # the node's membership lease
    container: str = ""  # the container's short id (DNS answers for it)
    aliases: Sequence[str] = ()
    ip: str | None = None  # a requested address (--ip), else allocated
    mac: str | None = None  # default: Docker's 02:42 + the address


@dataclass(frozen=True)
class EndpointRecord:
    id: str
    network: str
    name: str
    node: str
    ip: str
    mac: str
    aliases: tuple[str, ...] = ()
    container: str = ""
    lease: int = field(default=0, compare=False)  # etcd's, not in the document
    mod_revision: int = field(default=0, compare=False)

    def document(self) -> str:
        doc = asdict(self)
        del doc["lease"], doc["mod_revision"]
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_kv(cls, kv: KV) -> EndpointRecord:
        doc: dict[str, Any] = kv.json()
        doc["aliases"] = tuple(doc.get("aliases", ()))
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known, lease=kv.lease, mod_revision=kv.mod_revision)


def _requested(net: GlobalNetwork, text: str) -> IPv4Address:
    config = net.ipam_config()
    try:
        addr = IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"{text} is not an IPv4 address") from None
    if addr not in config.subnet:
        raise InvalidArgument(
            f"Invalid address {addr}: It does not belong to any of this network's subnets"
        )
    reserved = {config.subnet.network_address, config.subnet.broadcast_address, config.gateway}
    if addr in reserved or addr in config.aux_addresses.values():
        raise Conflict(ipam.ADDRESS_IN_USE)
    return addr


def create(
    store: Store, net: GlobalNetwork, spec: EndpointSpec, rng: random.Random | None = None
) -> EndpointRecord:
    keys = store.keys
    if not spec.name:
        raise InvalidArgument("an endpoint of a global network needs a name")
    rng = rng or random.Random()
    requested = _requested(net, spec.ip) if spec.ip else None
    config = net.ipam_config()
    claims, _ = store.range(keys.addresses(net.id), keys_only=True)
    for attempt in range(MAX_ATTEMPTS):
        taken = {IPv4Address(kv.key.rsplit("/", 1)[1]) for kv in claims}
        ip = requested or pools.address_candidate(config, taken, attempt, rng)
        if ip is None:
            raise Conflict(
                "no available IPv4 addresses on this network's address pools: "
                f"{net.name} ({net.id})"
            )
        record = EndpointRecord(
            id=spec.id,
            network=net.id,
            name=spec.name,
            node=spec.node,
            ip=str(ip),
            mac=spec.mac or mac_for(str(ip)),
            aliases=tuple(spec.aliases),
            container=spec.container,
        )
        result = store.txn(
            [
                Compare.create_revision(keys.network(net.id), "EQUAL", net.create_revision),
                Compare.absent(keys.name(net.id, spec.name)),
                Compare.absent(keys.address(net.id, ip)),
                Compare.absent(keys.endpoint(net.id, spec.id)),
            ],
            [
                Put(keys.address(net.id, ip), spec.id, spec.lease),
                Put(keys.name(net.id, spec.name), spec.id, spec.lease),
                Put(keys.endpoint(net.id, spec.id), record.document(), spec.lease),
            ],
            [
                Get(keys.network(net.id), keys_only=True),
                Get(keys.name(net.id, spec.name)),
                Get(keys.endpoint(net.id, spec.id)),
                Get(keys.addresses(net.id), prefix=True, keys_only=True),
            ],
        )
        if result.succeeded:
            return replace(record, lease=spec.lease, mod_revision=result.revision)
        network, name, endpoint, claims_now = (result.kvs(i) for i in range(4))
        if not network or network[0].create_revision != net.create_revision:
            raise NotFound(f"network {net.name} not found")
        if endpoint:
            existing = EndpointRecord.from_kv(endpoint[0])
            if existing.name == spec.name and existing.node == spec.node:
                return existing  # an earlier try of ours went through
            raise Conflict(f"endpoint {spec.id} already exists in network {net.name}")
        if name:
            raise Conflict(f"service endpoint with name {spec.name} already exists")
        if requested is not None:
            raise Conflict(ipam.ADDRESS_IN_USE)
        claims = list(claims_now)
    raise StoreError(f"cluster store {store.url}: no address won after {MAX_ATTEMPTS} tries")


def get(store: Store, net_id: str, ep_id: str) -> EndpointRecord | None:
    kv = store.get(store.keys.endpoint(net_id, ep_id))
    return EndpointRecord.from_kv(kv) if kv else None


def list_all(store: Store, net_id: str = "") -> list[EndpointRecord]:
    """Endpoints of one global network, or of all."""
    kvs, _ = store.range(store.keys.endpoints(net_id))
    return [EndpointRecord.from_kv(kv) for kv in kvs]


def remove(store: Store, net_id: str, ep_id: str) -> bool:
    """Delete an endpoint with its name and address; False if it was already gone."""
    keys = store.keys
    for _ in range(16):
        kv = store.get(keys.endpoint(net_id, ep_id))
        if kv is None:
            return False
        rec = EndpointRecord.from_kv(kv)
        result = store.txn(
            [Compare.mod_revision(kv.key, "EQUAL", kv.mod_revision)],
            [
                Delete(kv.key),
                Delete(keys.name(net_id, rec.name)),
                Delete(keys.address(net_id, rec.ip)),
            ],
        )
        if result.succeeded:
            return True
    raise StoreError(f"cluster store {store.url}: endpoint {names.short_id(ep_id)} keeps changing")
