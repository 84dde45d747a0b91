"""Subnets a bridge network may not take, and more than one subnet for one network."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from cli.networks import consolidate_ipam
from controller.errors import InvalidArgument
from controller.rules import ipam
from tests.fake_daemon import FakeDaemon, invoke


def pick() -> IPv4Network:
    raise AssertionError("a subnet was given")


@pytest.mark.parametrize(
    ("subnet", "block", "what"),
    [
        ("127.0.0.0/24", "127.0.0.0/8", "loopback"),
        ("224.0.0.0/24", "224.0.0.0/4", "multicast"),
        ("239.255.0.0/16", "224.0.0.0/4", "multicast"),
        ("0.0.0.0/8", "0.0.0.0/8", '"this network" (RFC 1122)'),
        ("169.254.0.0/16", "169.254.0.0/16", "link-local"),
        ("255.255.255.0/24", "255.255.255.255/32", "the limited broadcast address"),
        ("96.0.0.0/3", "127.0.0.0/8", "loopback"),
    ],
)
def test_reserved_space_is_refused(subnet: str, block: str, what: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ipam.build_ipam_config(subnet, None, None, {}, pick)
    assert info.value.message == (
        f"invalid subnet {subnet}: it overlaps {block}, which is reserved for {what}"
    )


@pytest.mark.parametrize("subnet", ["10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10", "240.0.0.0/24"])
def test_ordinary_space_is_taken(subnet: str) -> None:
    assert str(ipam.build_ipam_config(subnet, None, None, {}, pick).subnet) == subnet


def test_a_pool_in_reserved_space_is_refused_too() -> None:
    with pytest.raises(InvalidArgument, match="reserved for loopback"):
        ipam.build_ipam_config(None, None, None, {}, lambda: IPv4Network("127.1.0.0/16"))


def test_two_subnets_for_one_network() -> None:
    with pytest.raises(InvalidArgument) as info:
        ipam.check_one_pool(["10.5.0.0/24", "10.5.0.0/25"])
    assert info.value.message == "multiple overlapping subnet configuration is not supported"
    with pytest.raises(InvalidArgument) as info:
        ipam.check_one_pool(["10.5.0.0/24", "10.6.0.0/24"])
    assert info.value.message == "only one IPv4 subnet is supported per network"


def test_cli_consolidates_like_docker() -> None:
    assert consolidate_ipam(
        ["10.1.0.0/24", "10.2.0.0/24"], ["10.2.0.128/25"], ["10.1.0.254"], {"a": "10.2.0.5"}
    ) == [
        {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.254"},
        {"Subnet": "10.2.0.0/24", "IPRange": "10.2.0.128/25", "AuxAddress": {"a": "10.2.0.5"}},
    ]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--subnet", "10.5.0.0/24", "--subnet", "10.5.0.0/25"],
         "Error: multiple overlapping subnet configuration is not supported"),
        (["--subnet", "10.5.0.0/25", "--subnet", "10.5.0.0/24"],
         "Error: multiple overlapping subnet configuration is not supported"),
        (["--subnet", "10.5.0.0/24", "--gateway", "10.5.0.1", "--gateway", "10.5.0.2"],
         "Error: every ip-range or gateway must have a corresponding subnet"),
        (["--subnet", "10.5.0.0/24", "--subnet", "10.6.0.0/24", "--gateway", "10.5.0.1",
          "--gateway", "10.5.0.2"],
         "Error: cannot configure multiple gateways (10.5.0.2, 10.5.0.1) for the same subnet "
         "(10.5.0.0/24)"),
        (["--subnet", "10.5.0.0/24", "--subnet", "10.6.0.0/24", "--ip-range", "10.5.0.0/25",
          "--ip-range", "10.5.0.128/25"],
         "Error: cannot configure multiple ranges (10.5.0.128/25, 10.5.0.0/25) on the same "
         "subnet (10.5.0.0/24)"),
        (["--subnet", "10.5.0.0/24", "--subnet", "10.6.0.0/24", "--gateway", "10.7.0.1"],
         "Error: no matching subnet for gateway 10.7.0.1"),
        (["--gateway", "10.5.0.1", "--gateway", "10.6.0.1"],
         "Error: every ip-range or gateway must have a corresponding subnet"),
        (["--subnet", "foo", "--subnet", "10.6.0.0/24"],
         "Error: invalid subnet foo: invalid CIDR address: foo"),
    ],
)  # fmt: skip
def test_cli_refuses_what_docker_refuses(fake: FakeDaemon, args: list[str], line: str) -> None:
    result = invoke(fake, "network", "create", *args, "n")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [line]
    assert fake.requests == []


def test_cli_sends_every_subnet(fake: FakeDaemon) -> None:
    fake.error("POST", "/v1/networks", 400, "only one IPv4 subnet is supported per network")
    result = invoke(fake, "network", "create", "--subnet", "10.5.0.0/24", "--subnet",
                    "10.6.0.0/24", "n")  # fmt: skip
    assert result.exit_code == 1
    assert fake.requests[0].body["IPAM"] == {
        "Config": [{"Subnet": "10.5.0.0/24"}, {"Subnet": "10.6.0.0/24"}]
    }
