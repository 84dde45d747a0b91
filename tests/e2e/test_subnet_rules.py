"""Subnets a bridge network may not take, against the real daemon.

Before the fix ``--subnet 127.0.0.0/24`` (and multicast, ``0.0.0.0/8``, link-local, the
broadcast address) made a network whose embedded DNS then bound 127.0.0.1:53, and of two
``--subnet`` flags the CLI silently sent the last one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli.client import Client, DaemonError
from testbed.hawser import HawserNode


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> Iterator[HawserNode]:
    yield shared_node


def listeners(hn: HawserNode) -> list[str]:
    """Local addresses of UDP port 53 sockets in the node."""
    out = hn.in_node("ss", "-Hlun", "sport", "=", ":53").stdout.splitlines()
    return sorted(line.split()[3].rsplit(":", 1)[0] for line in out)


def state(hn: HawserNode) -> tuple[list[str], list[str], list[str]]:
    nets = sorted(n["Name"] for n in hn.jsonl("network", "ls", "--format", "json"))
    return nets, hn.hawser_links(), listeners(hn)


CASES = [
    (["--subnet", "127.0.0.0/24"],
     "Error response from daemon: invalid subnet 127.0.0.0/24: it overlaps 127.0.0.0/8, "
     "which is reserved for loopback"),
    (["--subnet", "224.0.0.0/24"],
     "Error response from daemon: invalid subnet 224.0.0.0/24: it overlaps 224.0.0.0/4, "
     "which is reserved for multicast"),
    (["--subnet", "0.0.0.0/8"],
     "Error response from daemon: invalid subnet 0.0.0.0/8: it overlaps 0.0.0.0/8, which is "
     'reserved for "this network" (RFC 1122)'),
    (["--subnet", "169.254.0.0/16"],
     "Error response from daemon: invalid subnet 169.254.0.0/16: it overlaps 169.254.0.0/16, "
     "which is reserved for link-local"),
    (["--subnet", "255.255.255.0/24"],
     "Error response from daemon: invalid subnet 255.255.255.0/24: it overlaps "
     "255.255.255.255/32, which is reserved for the limited broadcast address"),
    (["--subnet", "10.5.0.0/24", "--subnet", "10.5.0.0/25"],
     "Error: multiple overlapping subnet configuration is not supported"),
    (["--subnet", "10.5.0.0/24", "--subnet", "10.6.0.0/24"],
     "Error response from daemon: only one IPv4 subnet is supported per network"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "line"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_subnet_a_bridge_cannot_use_is_refused(
    hn: HawserNode, args: list[str], line: str
) -> None:
    before = state(hn)
    result = hn.cli("network", "create", *args, "bad", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]
    assert state(hn) == before


def test_the_api_refuses_two_overlapping_subnets(hn: HawserNode) -> None:
    body = {
        "Name": "bad",
        "IPAM": {"Config": [{"Subnet": "10.5.0.0/24"}, {"Subnet": "10.5.0.128/25"}]},
    }
    with pytest.raises(DaemonError) as info:
        Client(str(hn.socket)).post("/v1/networks", body)
    assert (info.value.status, info.value.message) == (
        400,
        "multiple overlapping subnet configuration is not supported",
    )


def test_an_ordinary_subnet_is_taken_and_served(hn: HawserNode) -> None:
    """The positive control: the embedded DNS listens on an accepted network's gateway."""
    assert "10.7.0.1" not in listeners(hn)
    hn.cli("network", "create", "--subnet", "10.7.0.0/24", "good")
    try:
        assert "10.7.0.1" in listeners(hn)
        assert "127.0.0.1" not in listeners(hn)
    finally:
        hn.cli("network", "rm", "good")
