"""A stopped datapath keeps its socket hooks (a daemon stop leaves the node's datapath whole);
the next one replaces them, even when it pins its maps under another version (an upgrade
that changed a map's layout): no hook of the old version is left rewriting connections with
the old maps, and the old pins go."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from controller.datapath import Datapath, PortMapping, types
from testbed import census
from testbed.datapath import DatapathTopology, close_datapath

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def topo() -> Iterator[DatapathTopology]:
    t = DatapathTopology()
    try:
        yield t
    finally:
        census.remove_pins(t.prefix)  # whatever a failure left: hooks first, then the pins
        t.close()


def _local(topo: DatapathTopology) -> dict[str, Any]:
    """A node process dialling 127.0.0.1:8080 (only the socket hooks make it reach a backend)."""
    return topo.client(topo.node, "tcp", "127.0.0.1", 8080, nsenter=True)


def test_the_next_datapath_replaces_an_older_versions_hooks(
    topo: DatapathTopology, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = topo.add_container("172.20.0.10")
    topo.server(c.name, "tcp", 80)
    port = PortMapping("tcp", "0.0.0.0", 8080, c.ip, 80, c.ifindex)

    monkeypatch.setattr(types, "PIN_VERSION", "v0")  # the version before an upgrade
    old, old_ipr = topo.start_datapath()
    old.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
    old.add_ports([port])
    assert "reply" in _local(topo)
    old_hooks = {int(h["id"]) for h in census.hooks_of(topo.prefix)}
    assert len(old_hooks) == 4
    old.close()  # the daemon stops: its hooks stay and still serve the node
    assert {int(h["id"]) for h in census.hooks_of(topo.prefix)} == old_hooks
    assert "reply" in _local(topo)

    monkeypatch.undo()  # the upgraded daemon: new pins, empty maps
    new: Datapath | None = None
    new_ipr: Any = None
    try:
        new, new_ipr = topo.start_datapath()
        attached = {int(h["id"]) for h in census.attached()}
        assert not attached & old_hooks, "an old version's hook is still attached"
        pins = census.BPFFS_HAWSER / topo.prefix
        assert not (pins / "v0").exists() and (pins / types.PIN_VERSION).is_dir()
        assert len(census.hooks_of(topo.prefix)) == 4  # its own
        assert "reply" not in _local(topo)  # nothing rewrites to the backend: no stale map
        new.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
        new.add_ports([port])
        assert "reply" in _local(topo)  # the positive control: the new hooks serve it
    finally:
        close_datapath(new, new_ipr)
        old_ipr.close()
