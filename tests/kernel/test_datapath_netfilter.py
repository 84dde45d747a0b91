"""Hawser's traffic never walks netfilter, even where an engine set FORWARD to DROP.

dockerd with iptables on sets the node's FORWARD policy to DROP, and with br_netfilter's
bridge-nf-call-iptables=1 even frames crossing a bridge are filtered. Containers on one Hawser
network are delivered to each other's veth peer by from-container, so that policy never sees
them; a sandbox the datapath does not serve, on the same bridge, shows the policy is real.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from controller.datapath import Datapath
from testbed.datapath import DatapathTopology, close_datapath
from testbed.netns import netns_exec
from testbed.shell import sh
from testbed.topology import Container

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture
def filtered() -> Iterator[tuple[DatapathTopology, Datapath, list[Container]]]:
    topo = DatapathTopology()
    ipr = dp = None
    try:
        dp, ipr = topo.start_datapath()
        served = [topo.add_container(f"172.20.0.{i}", 1) for i in (2, 3)]
        for c in served:
            dp.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
        unserved = topo.add_container("172.20.0.9", 1)  # on the bridge, no program, no entry
        sh(*netns_exec(topo.node, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"))
        sh(*netns_exec(topo.node, "iptables", "-P", "FORWARD", "DROP"))
        yield topo, dp, [*served, unserved]
    finally:
        close_datapath(dp, ipr)
        topo.close()


def test_containers_of_one_network_talk_past_a_forward_drop_policy(
    filtered: tuple[DatapathTopology, Datapath, list[Container]],
) -> None:
    topo, dp, (a, b, outsider) = filtered
    topo.server(b.name, "tcp", 7000)
    # control: bridged traffic that is not Hawser's is dropped by the engine's policy
    r = topo.client(outsider.name, "tcp", b.ip, 7000, "plain-bridge", timeout=1)
    assert "error" in r, r
    drops = sh(*netns_exec(topo.node, "iptables", "-L", "FORWARD", "-v", "-x", "-n"))
    assert "policy DROP" in drops.stdout and " 0 packets" not in drops.stdout.splitlines()[0]
    # Hawser's members reach each other, both ways, and the policy counter did not move for them
    before = drops.stdout.splitlines()[0]
    r = topo.client(a.name, "tcp", b.ip, 7000, "hawser")
    assert r["reply"] == {"peer": [a.ip, r["reply"]["peer"][1]], "data": "hawser"}
    after = sh(*netns_exec(topo.node, "iptables", "-L", "FORWARD", "-v", "-x", "-n"))
    assert after.stdout.splitlines()[0] == before
    assert topo.ping(b.name, a.ip)
