"""controller/kernel/vxlan.py in a netns of the test's own: the node's collect-metadata VXLAN
device created, adopted, replaced when stale, refused cleanly, deleted. What the kernel
holds is read back with ``ip -d -j link`` (iproute2), not with the code under test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2 import NetNS

from controller.errors import HawserError, InvalidArgument
from controller.kernel import vxlan
from testbed.netns import ip
from testbed.scope import Scope
from testbed.topology import new_netns

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def details(ns: str, dev: str) -> dict[str, Any] | None:
    r = ip(ns, "-d", "-j", "link", "show", dev, check=False)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


@pytest.fixture
def node() -> Iterator[tuple[str, Any]]:
    scope = Scope()
    try:
        name = new_netns(scope, "vx")
        ipr = NetNS(name)
        scope.on_close(ipr.close)
        ip(name, "link", "add", "uplink0", "mtu", "9000", "type", "veth", "peer", "name", "up-peer")
        yield name, ipr
    finally:
        scope.close()


def test_created_external_on_4789_with_the_uplink_mtu_then_adopted(node: tuple[str, Any]) -> None:
    ns, ipr = node
    mtu = vxlan.link_mtu(ipr, "uplink0")
    assert mtu == 9000 and vxlan.overlay_mtu(1500) == 1450
    index = vxlan.ensure(ipr, mtu)
    d = details(ns, "hawser_vx")
    assert d is not None and d["ifindex"] == index
    info = d["linkinfo"]
    assert info["info_kind"] == "vxlan"
    assert info["info_data"]["external"] is True and info["info_data"]["port"] == 4789
    assert info["info_data"]["learning"] is False
    assert d["mtu"] == 9000 and "UP" in d["flags"]
    # idempotent: the same device is adopted (same ifindex), its MTU put right
    assert vxlan.ensure(ipr, mtu) == index
    assert vxlan.ensure(ipr, 1500) == index
    assert details(ns, "hawser_vx")["mtu"] == 1500  # type: ignore[index]
    ip(ns, "link", "set", "hawser_vx", "down")
    assert vxlan.ensure(ipr, 1500) == index and "UP" in details(ns, "hawser_vx")["flags"]  # type: ignore[index]
    got = vxlan.get(ipr)
    assert got is not None and got.matches(4789) and not got.matches(8472)


@pytest.mark.parametrize(
    "stale",
    [
        ["type", "vxlan", "id", "42", "dstport", "8472"],  # a VNI device on another port
        ["type", "vxlan", "external", "dstport", "4789", "learning"],  # external but learning
        ["type", "bridge"],  # not a VXLAN at all
    ],
)
def test_a_stale_device_of_its_name_is_replaced(node: tuple[str, Any], stale: list[str]) -> None:
    ns, ipr = node
    ip(ns, "link", "add", "hawser_vx", *stale)
    before = details(ns, "hawser_vx")["ifindex"]  # type: ignore[index]
    index = vxlan.ensure(ipr, 1500)
    d = details(ns, "hawser_vx")
    assert d is not None and index == d["ifindex"] != before
    assert d["linkinfo"]["info_data"]["external"] is True
    assert (
        d["linkinfo"]["info_data"]["port"] == 4789
        and d["linkinfo"]["info_data"]["learning"] is False
    )


def test_refusals_are_one_line_and_leave_no_device(node: tuple[str, Any]) -> None:
    ns, ipr = node
    with pytest.raises(
        InvalidArgument, match="^cannot create VXLAN device hawser_vx: invalid MTU 70000$"
    ):
        vxlan.ensure(ipr, 70000)
    assert details(ns, "hawser_vx") is None
    with pytest.raises(InvalidArgument, match="longer than 15 characters"):
        vxlan.ensure(ipr, 1500, name="hawser_vx_too_long")
    # the kernel allows one external device per UDP port in a netns
    ip(ns, "link", "add", "other_vx", "type", "vxlan", "external", "dstport", "4789")
    with pytest.raises(
        HawserError,
        match="^cannot create VXLAN device hawser_vx: other_vx already uses UDP port 4789$",
    ):
        vxlan.ensure(ipr, 1500)
    assert details(ns, "hawser_vx") is None
    ip(ns, "link", "del", "other_vx")
    assert vxlan.ensure(ipr, 1500) > 0  # positive control: with the port free it works
    assert details(ns, "hawser_vx") is not None


def test_delete_is_idempotent(node: tuple[str, Any]) -> None:
    ns, ipr = node
    vxlan.ensure(ipr, 1500)
    assert vxlan.delete(ipr) is True
    assert details(ns, "hawser_vx") is None
    assert vxlan.delete(ipr) is False and vxlan.get(ipr) is None
