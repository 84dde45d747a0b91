"""Host port allocation for published ports (Docker's conflict rules), and the node's held
ports read from its socket tables (``kernel.sockets``) with a real socket as control."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import pytest

from controller.errors import Conflict, InvalidArgument
from controller.kernel.sockets import HostPorts, parse_table
from controller.ops.ports import PortAllocator
from controller.rules.portspec import PortBinding, parse_publish

EPHEMERAL = (32768, 32775)
B = PortBinding.bound


def tables(**text: str) -> Callable[[str], str]:
    """A reader of /proc/net tables with these contents (others empty)."""
    return lambda name: text.get(name, "header\n")


def line(addr_hex: str, port: int) -> str:
    return f"   0: {addr_hex}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 0 0 1\n"


class Probe:
    """bind() as the node would answer: EADDRINUSE for held ports, EADDRNOTAVAIL off-node."""

    def __init__(self, held: set[tuple[str, int]], addresses: set[str]) -> None:
        self.held, self.addresses, self.calls = held, addresses, 0

    def __call__(self, proto: str, host_ip: str, port: int) -> int:
        self.calls += 1
        if host_ip not in self.addresses | {"0.0.0.0"}:
            return errno.EADDRNOTAVAIL
        held = {p for ip, p in self.held if ip in (host_ip, "0.0.0.0") or host_ip == "0.0.0.0"}
        return errno.EADDRINUSE if port in held else 0


def allocator(
    taken: dict[str, dict[int, set[str]]] | None = None,
    held: str = "header\n",
    probe: Probe | None = None,
) -> PortAllocator:
    probe = probe or Probe(set(), {"127.0.0.1", "10.0.0.1"})
    return PortAllocator(taken or {}, EPHEMERAL, HostPorts(tables(tcp=held), probe))


def asked(*specs: str) -> list[PortBinding]:
    return [b for spec in specs for b in parse_publish(spec)]


def test_fixed_ranged_and_ephemeral_ports() -> None:
    got = allocator().allocate(asked("8080:80", "127.0.0.1:9000-9001:90", "53/udp", "7"), "0.0.0.0")
    assert got == [
        B("tcp", 80, "0.0.0.0", 8080),
        B("tcp", 90, "127.0.0.1", 9000),
        B("udp", 53, "0.0.0.0", 32768),
        B("tcp", 7, "0.0.0.0", 32768),
    ]


def test_the_networks_host_binding_address_applies_when_none_is_given() -> None:
    assert allocator().allocate(asked("8080:80"), "10.0.0.1") == [B("tcp", 80, "10.0.0.1", 8080)]


@pytest.mark.parametrize(
    ("mine", "theirs", "refused"),
    [
        ("8080:80", {"0.0.0.0"}, True),
        ("8080:80", {"127.0.0.1"}, True),  # every address includes theirs
        ("127.0.0.1:8080:80", {"0.0.0.0"}, True),
        ("127.0.0.1:8080:80", {"127.0.0.1"}, True),
        ("127.0.0.1:8080:80", {"10.0.0.1"}, False),
        ("8080:80/udp", {"0.0.0.0"}, False),  # theirs is tcp
    ],
)
def test_a_port_another_container_holds_is_already_allocated(
    mine: str, theirs: set[str], refused: bool
) -> None:
    alloc = allocator({"tcp": {8080: theirs}})
    if not refused:
        assert alloc.allocate(asked(mine), "0.0.0.0")[0].host_port == 8080
        return
    with pytest.raises(Conflict) as exc:
        alloc.allocate(asked(mine), "0.0.0.0")
    ip = "127.0.0.1" if mine.startswith("127") else "0.0.0.0"
    assert exc.value.message == f"Bind for {ip}:8080 failed: port is already allocated"


def test_a_conflict_anywhere_in_a_large_range_is_found_before_any_allocation() -> None:
    spec = "1100-31099:1100-31099"
    for port in (1100, 16100, 31099):
        probe = Probe(set(), set())
        alloc = allocator({"tcp": {port: {"0.0.0.0"}}}, probe=probe)
        with pytest.raises(Conflict, match=f"Bind for 0.0.0.0:{port} failed"):
            alloc.allocate(asked(spec), "0.0.0.0")
        assert probe.calls == 0  # set operations: not one bind() probe per port
    assert len(allocator().allocate(asked(spec), "0.0.0.0")) == 30000


def test_the_first_conflict_in_asked_order_is_reported() -> None:
    alloc = allocator({"tcp": {9000: {"0.0.0.0"}, 8000: {"0.0.0.0"}}})
    with pytest.raises(Conflict, match="0.0.0.0:9000 failed"):
        alloc.allocate(asked("9000:90", "8000:80"), "0.0.0.0")


def test_the_same_host_port_twice_in_one_container_is_refused() -> None:
    with pytest.raises(Conflict, match="Bind for 0.0.0.0:8080 failed: port is already allocated"):
        allocator().allocate(asked("8080:80", "8080:81"), "0.0.0.0")
    two = allocator().allocate(asked("127.0.0.1:8080:80", "10.0.0.1:8080:81"), "0.0.0.0")
    assert [b.host_port for b in two] == [8080, 8080]


def test_a_port_a_node_socket_holds_is_in_use_and_confirmed_by_bind() -> None:
    # the table shows 8080 on every address and 8081 on ::1 (IPv6 only: no conflict)
    held = "header\n" + line("00000000", 8080)
    probe = Probe({("0.0.0.0", 8080)}, {"127.0.0.1"})
    alloc = PortAllocator(
        {}, EPHEMERAL, HostPorts(tables(tcp=held, tcp6="h\n" + line("0" * 31 + "1", 8081)), probe)
    )
    with pytest.raises(Conflict) as exc:
        alloc.allocate(asked("8080:80"), "0.0.0.0")
    assert exc.value.message == "failed to bind host port 0.0.0.0:8080/tcp: address already in use"
    assert alloc.allocate(asked("8081:80"), "0.0.0.0") == [B("tcp", 80, "0.0.0.0", 8081)]
    # a range skips the held port instead
    assert allocator(held=held, probe=probe).allocate(asked("8080-8082:80"), "0.0.0.0") == [
        B("tcp", 80, "0.0.0.0", 8081)
    ]


def test_a_table_entry_that_bind_does_not_confirm_is_free() -> None:
    """SO_REUSEADDR, IPV6_V6ONLY: the table shows the port, bind() still succeeds."""
    probe = Probe(set(), {"127.0.0.1"})
    got = allocator(held="header\n" + line("00000000", 8080), probe=probe).allocate(
        asked("8080:80"), "0.0.0.0"
    )
    assert got == [B("tcp", 80, "0.0.0.0", 8080)] and probe.calls >= 1


def test_an_address_the_node_lacks_cannot_be_assigned() -> None:
    with pytest.raises(InvalidArgument) as exc:
        allocator().allocate(asked("192.0.2.9:8080:80"), "0.0.0.0")
    assert exc.value.message == (
        "failed to bind host port 192.0.2.9:8080/tcp: cannot assign requested address"
    )
    with pytest.raises(InvalidArgument, match="192.0.2.9:32768/tcp: cannot assign"):
        allocator().allocate(asked("192.0.2.9::80"), "0.0.0.0")


def test_exhausted_ranges() -> None:
    full = {"tcp": {p: {"0.0.0.0"} for p in range(32768, 32776)}}
    with pytest.raises(Conflict, match="^no free ports in the ephemeral range$"):
        allocator(full).allocate(asked("80"), "0.0.0.0")
    with pytest.raises(Conflict, match=r"Bind for 0.0.0.0:32768-32769 failed"):
        allocator(full).allocate(asked("32768-32769:80"), "0.0.0.0")
    # many ephemeral requests: each takes the next port, the last one finds none
    with pytest.raises(Conflict, match="no free ports"):
        allocator().allocate(asked("1-9"), "0.0.0.0")
    assert len(allocator().allocate(asked("1-8"), "0.0.0.0")) == 8


def test_parse_table_addresses() -> None:
    text = (
        "header\n"
        + line("0100007F", 80)  # 127.0.0.1
        + line("00000000000000000000000000000000", 443)  # :: (dual stack: every IPv4)
        + line("0000000000000000FFFF00000100007F", 53)  # ::ffff:127.0.0.1
        + line("00000000000000000000000001000000", 22)  # ::1, IPv6 only
    )
    assert parse_table(text) == {80: {"127.0.0.1"}, 443: {"0.0.0.0"}, 53: {"127.0.0.1"}}


@pytest.mark.parametrize("kind,proto", [(socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")])
def test_a_real_socket_of_this_netns_is_seen(kind: int, proto: str) -> None:
    with socket.socket(socket.AF_INET, kind) as held:
        held.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            held.listen()
        port = held.getsockname()[1]
        host = HostPorts()
        assert "127.0.0.1" in host.held(proto)[port]
        assert host.bind_errno(proto, "127.0.0.1", port) == errno.EADDRINUSE
        assert host.bind_errno(proto, "0.0.0.0", port) == errno.EADDRINUSE
    assert HostPorts().bind_errno(proto, "127.0.0.1", port) == 0  # positive control: freed


def test_a_few_ports_are_probed_without_reading_the_socket_tables() -> None:
    """Reading the tables costs ~10 ms whatever the count: one port is one bind() probe."""
    reads: list[str] = []

    def reader(name: str) -> str:
        reads.append(name)
        return "header\n"

    probe = Probe({("0.0.0.0", 8080)}, {"127.0.0.1"})
    alloc = PortAllocator({}, EPHEMERAL, HostPorts(reader, probe))
    with pytest.raises(Conflict, match="0.0.0.0:8080/tcp: address already in use"):
        alloc.allocate(asked("8080:80"), "0.0.0.0")
    assert alloc.allocate(asked("8081:80"), "0.0.0.0") == [B("tcp", 80, "0.0.0.0", 8081)]
    assert (reads, probe.calls) == ([], 2)
    PortAllocator({}, EPHEMERAL, HostPorts(reader, probe)).allocate(asked("1-300:1-300"), "0.0.0.0")
    assert reads == ["tcp", "tcp6"]  # many ports: one read instead
