"""``-o com.docker.network.bridge.name=X``: adopt an existing bridge, refuse anything else.

Docker adopts an existing bridge of the requested name and refuses any other kind of
interface; ``network rm`` must never delete a device Hawser did not make (before the fix the
node's uplink, a veth or ``lo`` took the gateway address and the uplink was deleted with the
network).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testbed.hawser import HawserNode

OPT = "com.docker.network.bridge.name"


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> Iterator[HawserNode]:
    yield shared_node


def link(hn: HawserNode, name: str) -> dict[str, Any] | None:
    """``ip -j addr show dev NAME`` in the node, None when the device does not exist."""
    out = hn.in_node("ip", "-j", "addr", "show", "dev", name, check=False)
    if out.returncode != 0:
        return None
    found = json.loads(out.stdout)
    return found[0] if found else None


def v4(info: dict[str, Any] | None) -> set[str]:
    assert info is not None
    return {f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"] if a["family"] == "inet"}


def uplinks(hn: HawserNode) -> list[str]:
    """The ``Uplinks:`` line of ``hawser info`` (indented under Docker's ``Server:`` heading)."""
    lines = (line.strip() for line in hn.cli("info").stdout.splitlines())
    return [line for line in lines if line.startswith("Uplinks:")]


def wait_uplink(hn: HawserNode, name: str, timeout: float = 15) -> list[str]:
    """Poll ``hawser info`` until the daemon's uplink scan has seen ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = uplinks(hn)
        if line and name in line[0].split(":", 1)[1].replace(",", " ").split():
            return line[0].split(":", 1)[1].replace(",", " ").split()
        time.sleep(0.2)
    raise TimeoutError(f"{name} never became an uplink: {uplinks(hn)}")


def networks(hn: HawserNode) -> list[str]:
    return sorted(n["Name"] for n in hn.jsonl("network", "ls", "--format", "json"))


def make_devices(hn: HawserNode) -> dict[str, str]:
    """A device of each kind this kernel can make, besides the uplink and lo."""
    hn.in_node("ip", "link", "add", "t-va", "type", "veth", "peer", "name", "t-vb")
    hn.in_node("ip", "addr", "add", "198.51.100.1/24", "dev", "t-va")
    hn.in_node("ip", "link", "add", "t-mv", "link", "t-vb", "type", "macvlan")
    hn.in_node("ip", "link", "add", "t-vx", "type", "vxlan", "id", "42", "dstport", "4789")
    return {"uplink0": "veth (the uplink)", "t-va": "veth", "lo": "loopback",
            "t-mv": "macvlan", "t-vx": "vxlan"}  # fmt: skip


def test_an_interface_that_is_not_a_bridge_is_refused_and_left_untouched(hn: HawserNode) -> None:
    devices = make_devices(hn)
    for dev in devices:
        before = link(hn, dev)
        assert before is not None
        nets, hawser_links = networks(hn), hn.hawser_links()
        result = hn.cli("network", "create", "-o", f"{OPT}={dev}", f"n-{dev}", check=False)
        assert result.returncode == 1, (dev, result.stdout)
        assert result.stderr == (
            f"Error response from daemon: existing interface {dev} is not a bridge\n"
        ), dev
        after = link(hn, dev)
        assert after is not None, f"{dev} was deleted"
        assert v4(after) == v4(before), dev
        assert after["address"] == before["address"] and after["mtu"] == before["mtu"], dev
        assert networks(hn) == nets
        assert hn.hawser_links() == hawser_links
    # nothing was half-made: the uplink still carries traffic to the outside host
    assert hn.in_node("ping", "-c1", "-W2", "10.99.0.2", check=False).returncode == 0


def test_an_existing_bridge_is_adopted_and_left_on_rm(hn: HawserNode) -> None:
    hn.in_node("ip", "link", "add", "t-br", "mtu", "1400", "address", "02:11:22:33:44:55",
               "type", "bridge")  # fmt: skip
    hn.in_node("ip", "addr", "add", "192.0.2.1/24", "dev", "t-br")  # the owner's own address
    hn.in_node("ip", "link", "set", "t-br", "up")
    assert "t-br" in wait_uplink(hn, "t-br")  # an ordinary interface until adopted

    hn.cli("network", "create", "--subnet", "172.30.9.0/24", "-o", f"{OPT}=t-br", "adopted")
    info = link(hn, "t-br")
    assert info is not None
    assert v4(info) == {"192.0.2.1/24", "172.30.9.1/24"}
    assert info["address"] == "02:11:22:33:44:55" and info["mtu"] == 1400  # kept as it was
    assert hn.json("network", "inspect", "adopted")[0]["Options"] == {OPT: "t-br"}

    # the adopted bridge carries containers: one reaches the gateway and another container
    hn.cli("run", "-d", "--name", "a1", "--network", "adopted", "--", "sleep", "600")
    hn.cli("run", "-d", "--name", "a2", "--network", "adopted", "--", "sleep", "600")
    assert hn.cli("exec", "a1", "--", "ping", "-c1", "-W2", "172.30.9.1").returncode == 0
    a2 = hn.ip_of("a2", "adopted")
    assert hn.cli("exec", "a1", "--", "ping", "-c1", "-W2", a2).returncode == 0

    # once a network owns it, the bridge is no longer served as an uplink
    hn.in_node("ip", "link", "add", "t-new", "type", "veth", "peer", "name", "t-new2")
    hn.in_node("ip", "addr", "add", "192.0.3.1/24", "dev", "t-new")
    hn.in_node("ip", "link", "set", "t-new", "up")
    seen = wait_uplink(hn, "t-new")  # a scan ran after the adoption
    assert "t-br" not in seen and "uplink0" in seen

    # a restart keeps the fact that Hawser did not make it
    hn.stop()
    hn.start()
    hn.cli("rm", "-f", "a1", "a2")
    hn.cli("network", "rm", "adopted")
    info = link(hn, "t-br")
    assert info is not None, "network rm deleted a bridge Hawser did not make"
    assert v4(info) == {"192.0.2.1/24"}  # only the gateway Hawser added went away
    assert info["address"] == "02:11:22:33:44:55"


def test_a_gateway_address_that_was_there_stays(hn: HawserNode) -> None:
    hn.in_node("ip", "link", "add", "t-br2", "type", "bridge")
    hn.in_node("ip", "addr", "add", "172.30.8.1/24", "dev", "t-br2")
    hn.cli("network", "create", "--subnet", "172.30.8.0/24", "-o", f"{OPT}=t-br2", "pre")
    hn.cli("network", "rm", "pre")
    assert v4(link(hn, "t-br2")) == {"172.30.8.1/24"}


def test_a_bridge_hawser_made_under_a_chosen_name_is_deleted(hn: HawserNode) -> None:
    assert link(hn, "t-mine") is None
    hn.cli("network", "create", "--subnet", "172.30.7.0/24", "-o", f"{OPT}=t-mine", "mine")
    info = link(hn, "t-mine")
    assert info is not None and v4(info) == {"172.30.7.1/24"}
    hn.cli("network", "rm", "mine")
    assert link(hn, "t-mine") is None
