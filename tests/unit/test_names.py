"""Name validation, ids and Hawser's kernel object names."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from controller.errors import InvalidArgument
from controller.rules.names import (
    LinkName,
    bridge_name,
    is_hawser_link,
    is_hawser_netns,
    netns_name,
    new_id,
    parse_link_name,
    parse_netns_name,
    short_id,
    validate_container_name,
    validate_hostname,
    validate_interface_name,
    validate_network_name,
    veth_name,
)

ID = "3341929632a6" + "0" * 52
EP = "c9a13d6cc644" + "f" * 52


@pytest.mark.parametrize(
    "name, expected",
    [("db", "db"), ("/db", "db"), ("web_2.prod-x", "web_2.prod-x"), ("9a", "9a")],
)
def test_container_name_good(name: str, expected: str) -> None:
    assert validate_container_name(name) == expected


@pytest.mark.parametrize("name", ["", "a", "/a", "-db", "_db", ".db", "db/x", "d b", "db:1", "é1"])
def test_container_name_bad(name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_container_name(name)
    assert exc.value.message == (
        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    )


@pytest.mark.parametrize("name", ["n", "noicc", "my-net.1_x", "a" * 128])
def test_network_name_good(name: str) -> None:
    assert validate_network_name(name) == name


@pytest.mark.parametrize("name", ["-n", "a b", "a/b", "a" * 129, "ü"])
def test_network_name_bad(name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_network_name(name)
    assert exc.value.message == (
        f'network name "{name}" includes invalid characters, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
    )


def test_network_name_empty() -> None:
    with pytest.raises(InvalidArgument, match="must not be empty"):
        validate_network_name("")


@pytest.mark.parametrize("name", ["web", "c9a13d6cc644", "a", "a-b", "host.example.com", "x" * 63])
def test_hostname_good(name: str) -> None:
    assert validate_hostname(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "a..b", ".a", "x" * 64, "a b"])
def test_hostname_bad(name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_hostname(name)
    assert exc.value.message == f"invalid hostname format: {name}"


@pytest.mark.parametrize("name", ["br0", "x" * 15, "hw-abc", "my_bridge.1"])
def test_interface_name_good(name: str) -> None:
    assert validate_interface_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 16, ".", "..", "a/b", "a:b", "a b", "a\tb"])
def test_interface_name_bad(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid interface name"):
        validate_interface_name(name)


def test_new_id() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch("[0-9a-f]{64}", value)
        assert not short_id(value).isdigit()


def test_short_id() -> None:
    assert short_id(ID) == "3341929632a6"
    assert short_id("sha256:" + ID) == "3341929632a6"


def test_kernel_names() -> None:
    assert bridge_name(ID) == "hw-3341929632a6"
    assert len(bridge_name(ID)) == 15
    assert veth_name(EP) == "hwvc9a13d6cc64"
    assert len(veth_name(EP)) == 14
    assert netns_name("node-1", ID) == "hw-node-1-3341929632a6"


@pytest.mark.parametrize(
    "builder, bad",
    [
        (bridge_name, ""),
        (bridge_name, "3341929632a"),  # 11 chars: too short for a bridge
        (bridge_name, "XYZ" + ID),
        (veth_name, "c9a13d6cc6"),
        (veth_name, "C9A13D6CC644"),  # ids are lowercase
        (veth_name, "zzzzzzzzzzzz"),
    ],
)
def test_kernel_names_need_hex_ids(builder: Callable[[str], str], bad: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        builder(bad)
    assert exc.value.message == f"invalid id: {bad}"


def test_netns_name_bad_node() -> None:
    with pytest.raises(InvalidArgument, match="invalid node name"):
        netns_name("Node A", ID)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("hawser0", LinkName("default-bridge", "")),
        ("hw-3341929632a6", LinkName("bridge", "3341929632a6")),
        ("hwvc9a13d6cc64", LinkName("veth", "c9a13d6cc64")),
        ("hwpc9a13d6cc64", LinkName("peer", "c9a13d6cc64")),
        ("eth0", None),
        ("docker0", None),
        ("hw-3341929632a", None),
        ("hw-3341929632aZ", None),
        ("hwvc9a13d6cc6", None),
        ("hawser1", None),
    ],
)
def test_parse_link_name(name: str, expected: LinkName | None) -> None:
    assert parse_link_name(name) == expected
    assert is_hawser_link(name) is (expected is not None)


def test_round_trips() -> None:
    assert parse_link_name(bridge_name(ID)) == LinkName("bridge", ID[:12])
    assert parse_link_name(veth_name(EP)) == LinkName("veth", EP[:11])
    assert parse_netns_name(netns_name("n-1", ID)) == ("n-1", ID[:12])


def test_netns_parse() -> None:
    assert parse_netns_name("hw-a-b-3341929632a6") == ("a-b", "3341929632a6")
    assert parse_netns_name("t-abc") is None
    assert parse_netns_name("hw-3341929632a6") is None
    assert is_hawser_netns("hw-n1-3341929632a6", "n1")
    assert not is_hawser_netns("hw-n1-3341929632a6", "n2")
    assert is_hawser_netns("hw-n1-3341929632a6")
