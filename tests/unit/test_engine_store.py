"""What the store keeps for engines: their sandboxes (found by engine id or netns path), a
sandbox taking the engine's own id with its rows following, and plugins' own state."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding
from controller.store.sqlite import Store


def ctr(ctr_id: str, name: str, owner: str = "hawser", **kw: str) -> Container:
    return Container(id=ctr_id, name=name, created="", network_mode="n", hostname="",
                     netns="", owner=owner, **kw)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "hawser.db")
    s.put_network(Network(id="n" * 64, name="n", key=1, driver="bridge", created=""))
    return s


def test_engine_sandboxes_are_found_by_their_engine_keys(store: Store) -> None:
    with store.transaction():
        store.put_container(ctr("a" * 64, "mine"))
        store.put_container(ctr("b" * 64, "pod", "cni", engine_id="podman-1", sandbox_key="/x"))
        store.put_container(ctr("c" * 64, "web", "docker", sandbox_key="/run/docker/netns/1"))
    assert [c.name for c in store.engine_containers("cni")] == ["pod"]
    assert [c.name for c in store.engine_containers("cni", engine_id="podman-1")] == ["pod"]
    assert store.engine_containers("cni", engine_id="podman-2") == []
    found = store.engine_containers("docker", sandbox_key="/run/docker/netns/1")
    assert [c.name for c in found] == ["web"]
    assert store.container("a" * 64).owner == "hawser"  # type: ignore[union-attr]


def test_a_sandbox_takes_the_engines_id_and_its_rows_follow(store: Store) -> None:
    old, new = "d" * 64, "e" * 64
    ep = Endpoint(id="f" * 64, container_id=old, network_id="n" * 64, ifname="eth0",
                  host_ifname="hwvfffffffffff", ip="10.0.0.2", prefixlen=24, mac="02:42:0a:00:00:02",
                  gateway="10.0.0.1")  # fmt: skip
    with store.transaction():
        store.put_container(ctr(old, "docker-dddddddddddd", "docker"))
        store.put_endpoint(ep)
        store.add_bindings(old, [PortBinding.bound("tcp", 80, "0.0.0.0", 8080)])
        store.set_port_requests(old, [PortBinding("tcp", 80, "", 8080, 8080)])
    renamed = ctr(new, "web", "docker", engine_id=new)
    with store.transaction():
        store.rekey_container(old, renamed)
    assert store.container(old) is None and store.container_by_name("web") == renamed
    [moved] = store.endpoints(container_id=new)
    assert moved.container_id == new and moved.id == ep.id
    assert store.bindings(new) == [PortBinding.bound("tcp", 80, "0.0.0.0", 8080)]
    assert store.port_requests(new) == [PortBinding("tcp", 80, "", 8080, 8080)]
    with store.transaction():
        store.clear_bindings(new)
    assert store.bindings(new) == [] and store.port_requests(new) == []


def test_plugin_state(store: Store) -> None:
    with store.transaction():
        store.put_plugin_state("docker", "pool:a", {"subnet": "10.0.0.0/24"})
        store.put_plugin_state("docker", "endpoint:b", {"ip": "10.0.0.2"})
        store.put_plugin_state("other", "pool:c", {})
    assert store.plugin_state("docker", "pool:a") == {"subnet": "10.0.0.0/24"}
    assert store.plugin_states("docker", "pool:") == {"pool:a": {"subnet": "10.0.0.0/24"}}
    with store.transaction():
        store.delete_plugin_state("docker", "pool:a")
    assert store.plugin_state("docker", "pool:a") is None
    assert list(store.plugin_states("docker")) == ["endpoint:b"]
