"""The Docker plugin's IPAM over Hawser's store (``OpsBackend``): pools and addresses as
dockerd asks for them, kept in the store so a restarted daemon answers the same."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.errors import Conflict, InvalidArgument, NotFound
from controller.ops import networks
from controller.plugins.docker.backend import AddressKind, AddressRequest, PoolRequest
from controller.plugins.docker.ops_backend import OpsBackend
from controller.store.sqlite import Store


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(networks, "_route_subnets", lambda node: [])  # no kernel here
    store = Store(tmp_path / "hawser.db")
    yield SimpleNamespace(
        store=store, lock=threading.RLock(), config=SimpleNamespace(default_address_pool=[])
    )
    store.close()


def pool(backend: OpsBackend, cidr: str | None, sub: str | None = None) -> Any:
    net = IPv4Network(cidr) if cidr else None
    return backend.request_pool(PoolRequest("hawser-local", net, IPv4Network(sub) if sub else None))


def ask(backend: OpsBackend, pool_id: str, address: str | None = None,
        kind: AddressKind = AddressKind.ENDPOINT) -> IPv4Interface:  # fmt: skip
    wanted = IPv4Address(address) if address else None
    return backend.request_address(AddressRequest(pool_id, wanted, kind))


def test_pools_reserve_their_gateway_and_hand_out_addresses(node: Any) -> None:
    backend = OpsBackend(node)
    p = pool(backend, "10.30.0.0/24")
    assert (p.pool_id, p.network, p.gateway) == (
        "hawser-10.30.0.0/24",
        IPv4Network("10.30.0.0/24"),
        IPv4Interface("10.30.0.1/24"),
    )
    assert ask(backend, p.pool_id) == IPv4Interface("10.30.0.2/24")  # .1 is the gateway
    assert ask(backend, p.pool_id, "10.30.0.250") == IPv4Interface("10.30.0.250/24")  # an aux
    with pytest.raises(Conflict, match=r"^Address already in use: 10.30.0.250$"):
        ask(backend, p.pool_id, "10.30.0.250")
    with pytest.raises(Conflict, match="Address already in use: 10.30.0.255"):
        ask(backend, p.pool_id, "10.30.0.255")
    with pytest.raises(InvalidArgument, match="does not belong to any of this network's subnets"):
        ask(backend, p.pool_id, "10.31.0.9")
    # a pool overlapping another is refused; so is the global address space
    with pytest.raises(Conflict, match="Pool overlaps with other one on this address space"):
        pool(backend, "10.30.0.0/16")
    with pytest.raises(InvalidArgument, match="local-scope networks only"):
        backend.request_pool(PoolRequest("hawser-global", None, None))
    with pytest.raises(NotFound, match="no IPAM pool hawser-10.99.0.0/24"):
        ask(backend, "hawser-10.99.0.0/24")


def test_a_given_gateway_replaces_the_default_pick(node: Any) -> None:
    backend = OpsBackend(node)
    p = pool(backend, "10.32.0.0/24")
    assert ask(backend, p.pool_id, "10.32.0.254", AddressKind.GATEWAY) == IPv4Interface(
        "10.32.0.254/24"
    )
    assert ask(backend, p.pool_id) == IPv4Interface("10.32.0.1/24")  # .1 is free again


def test_a_sub_pool_bounds_automatic_addresses(node: Any) -> None:
    backend = OpsBackend(node)
    p = pool(backend, "10.33.0.0/24", "10.33.0.128/25")
    assert ask(backend, p.pool_id) == IPv4Interface("10.33.0.129/24")
    assert ask(backend, p.pool_id, "10.33.0.5") == IPv4Interface("10.33.0.5/24")  # --ip anywhere


def test_releases_are_idempotent_and_survive_a_restart(node: Any) -> None:
    p = pool(OpsBackend(node), "10.34.0.0/24")
    ask(OpsBackend(node), p.pool_id)
    again = OpsBackend(node)  # a restarted daemon: everything is in the store
    assert ask(again, p.pool_id) == IPv4Interface("10.34.0.3/24")
    again.release_address(p.pool_id, IPv4Address("10.34.0.2"))
    again.release_address(p.pool_id, IPv4Address("10.34.0.2"))  # Docker replays
    assert ask(again, p.pool_id) == IPv4Interface("10.34.0.2/24")
    again.release_pool(p.pool_id)
    again.release_pool(p.pool_id)
    again.release_address(p.pool_id, IPv4Address("10.34.0.2"))  # a gone pool: nothing to do
    assert node.store.plugin_states("docker") == {}


def test_any_pool_comes_from_the_default_pools_past_the_taken_ones(node: Any) -> None:
    backend = OpsBackend(node)
    first = pool(backend, None)
    second = pool(backend, None)
    assert (first.network, second.network) == (
        IPv4Network("172.17.0.0/16"),
        IPv4Network("172.18.0.0/16"),
    )
