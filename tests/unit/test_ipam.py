"""IPAM: pools, subnet choice, network config validation, address allocation."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.errors import Conflict, InvalidArgument
from controller.rules.ipam import (
    DEFAULT_POOLS,
    AddressAllocator,
    IpamConfig,
    build_ipam_config,
    check_overlap,
    next_free_subnet,
    parse_address_pool,
)

N = IPv4Network
A = IPv4Address


def test_default_pools_in_docker_order() -> None:
    assert [(str(b), s) for b, s in DEFAULT_POOLS] == [
        ("172.17.0.0/16", 16),
        ("172.18.0.0/16", 16),
        ("172.19.0.0/16", 16),
        ("172.20.0.0/14", 16),
        ("172.24.0.0/14", 16),
        ("172.28.0.0/14", 16),
        ("192.168.0.0/16", 20),
    ]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("base=10.10.0.0/16,size=24", (N("10.10.0.0/16"), 24)),
        ("size=20,base=192.168.0.0/16", (N("192.168.0.0/16"), 20)),
        ("BASE=10.0.0.0/8,SIZE=8", (N("10.0.0.0/8"), 8)),
    ],
)
def test_parse_address_pool(spec: str, expected: tuple[IPv4Network, int]) -> None:
    assert parse_address_pool(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("base", "invalid field 'base' must be a key=value pair"),
        (
            "base=10.0.0.0/8,size=x",
            'invalid size value: "x" (must be integer): strconv.Atoi: parsing "x": invalid syntax',
        ),
        ("base=10.0.0.0/8,foo=1", "unexpected key 'foo' in 'foo=1'"),
        ("base=10.0.0.0,size=24", "invalid CIDR address: 10.0.0.0"),
        ("size=24", "address pool requires a base: size=24"),
        ("base=10.0.0.0/16", "address pool requires a size: base=10.0.0.0/16"),
        ("base=10.0.0.0/16,size=8", "invalid size 8 for address pool 10.0.0.0/16"),
    ],
)
def test_parse_address_pool_bad(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_address_pool(spec)
    assert exc.value.message == message


@pytest.mark.parametrize(
    "taken, expected",
    [
        ([], "172.17.0.0/16"),
        (["172.17.0.0/16"], "172.18.0.0/16"),
        (["172.17.5.0/24"], "172.18.0.0/16"),  # a route inside the prefix blocks it
        (["172.16.0.0/12"], "192.168.0.0/20"),  # a covering route blocks all 172 pools
        (["0.0.0.0/0"], "172.17.0.0/16"),  # the default route is ignored
        (["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"], "172.20.0.0/16"),
        (["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/15"], "172.22.0.0/16"),
        (["172.16.0.0/12", "192.168.0.0/20", "192.168.16.0/24"], "192.168.32.0/20"),
    ],
)
def test_next_free_subnet(taken: list[str], expected: str) -> None:
    assert next_free_subnet(DEFAULT_POOLS, [N(t) for t in taken]) == N(expected)


def test_next_free_subnet_custom_pool() -> None:
    pools = [parse_address_pool("base=10.10.0.0/16,size=24")]
    taken = [N(f"10.10.{i}.0/24") for i in range(3)]
    assert next_free_subnet(pools, taken) == N("10.10.3.0/24")


def test_pools_exhausted() -> None:
    with pytest.raises(InvalidArgument) as exc:
        next_free_subnet(DEFAULT_POOLS, [N("172.16.0.0/12"), N("192.168.0.0/16")])
    assert exc.value.message == "all predefined address pools have been fully subnetted"


def test_check_overlap() -> None:
    check_overlap(N("10.0.1.0/24"), [N("10.0.0.0/24"), N("10.0.2.0/24")])
    for other in ("10.0.0.0/16", "10.0.1.128/25", "10.0.1.0/24"):
        with pytest.raises(Conflict) as exc:
            check_overlap(N("10.0.1.0/24"), [N(other)])
        assert exc.value.message == "Pool overlaps with other one on this address space"
        assert exc.value.status == 409


def _never() -> IPv4Network:
    raise AssertionError("pick_subnet must not be called")


def test_build_defaults_from_picked_subnet() -> None:
    cfg = build_ipam_config(None, None, None, {}, lambda: N("172.18.0.0/16"))
    assert cfg == IpamConfig(N("172.18.0.0/16"), A("172.18.0.1"), None, {})


def test_build_full() -> None:
    cfg = build_ipam_config(
        "10.1.0.0/16", "10.1.255.254", "10.1.2.0/24", {"h1": "10.1.0.5", "h2": ""}, _never
    )
    assert cfg.subnet == N("10.1.0.0/16")
    assert cfg.gateway == A("10.1.255.254")
    assert cfg.ip_range == N("10.1.2.0/24")
    assert cfg.aux_addresses == {"h1": A("10.1.0.5")}


@pytest.mark.parametrize(
    "subnet, gateway, ip_range, aux, message",
    [
        (None, "10.0.0.1", None, {}, "every ip-range or gateway must have a corresponding subnet"),
        (
            None,
            None,
            "10.0.0.0/24",
            {},
            "every ip-range or gateway must have a corresponding subnet",
        ),
        (None, None, None, {"a": "10.0.0.3"}, "no matching subnet for aux-address 10.0.0.3"),
        ("10.0.0.0", None, None, {}, "invalid CIDR address: 10.0.0.0"),
        ("10.0.0.0/33", None, None, {}, "invalid CIDR address: 10.0.0.0/33"),
        ("foo", None, None, {}, "invalid CIDR address: foo"),
        ("fd00::/64", None, None, {}, "IPv6 subnets are not supported: fd00::/64"),
        ("10.0.0.5/24", None, None, {}, "invalid subnet 10.0.0.5/24: it should be 10.0.0.0/24"),
        (
            "10.0.0.0/31",
            None,
            None,
            {},
            "subnet 10.0.0.0/31 is too small: it has no room for a gateway and hosts",
        ),
        ("10.0.0.0/24", "10.0.1.1", None, {}, "no matching subnet for gateway 10.0.1.1"),
        ("10.0.0.0/24", "nope", None, {}, "no matching subnet for gateway nope"),
        ("10.0.0.0/24", None, "10.0.1.0/28", {}, "no matching subnet for range 10.0.1.0/28"),
        ("10.0.0.0/24", None, "10.0.0.0/16", {}, "no matching subnet for range 10.0.0.0/16"),
        ("10.0.0.0/24", None, "10.0.0.0", {}, "invalid CIDR address: 10.0.0.0"),
        (
            "10.0.0.0/24",
            None,
            None,
            {"a": "10.0.1.3"},
            "no matching subnet for aux-address 10.0.1.3",
        ),
        ("10.0.0.0/24", None, None, {"a": "zz"}, "no matching subnet for aux-address zz"),
    ],
)
def test_build_errors(
    subnet: str | None,
    gateway: str | None,
    ip_range: str | None,
    aux: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(InvalidArgument) as exc:
        build_ipam_config(subnet, gateway, ip_range, aux, lambda: N("10.0.0.0/24"))
    assert exc.value.message == message


def test_build_gateway_on_network_address() -> None:
    with pytest.raises(Conflict, match="Address already in use"):
        build_ipam_config("10.0.0.0/24", "10.0.0.0", None, {}, _never)


def cfg(
    subnet: str = "10.0.0.0/29",
    gateway: str | None = None,
    ip_range: str | None = None,
    aux: dict[str, str] | None = None,
) -> IpamConfig:
    return build_ipam_config(subnet, gateway, ip_range, aux or {}, _never)


def test_allocate_skips_network_gateway_aux_and_broadcast() -> None:
    alloc = AddressAllocator(cfg(aux={"x": "10.0.0.3"}), network_name="n", network_id="abc")
    got = [alloc.allocate() for _ in range(4)]
    assert got == [A("10.0.0.2"), A("10.0.0.4"), A("10.0.0.5"), A("10.0.0.6")]
    with pytest.raises(Conflict) as exc:
        alloc.allocate()
    assert exc.value.message == (
        "no available IPv4 addresses on this network's address pools: n (abc)"
    )
    alloc.release(A("10.0.0.5"))
    assert alloc.allocate() == A("10.0.0.5")


def test_allocate_respects_existing_and_ip_range() -> None:
    alloc = AddressAllocator(cfg("10.0.0.0/24", ip_range="10.0.0.128/25"), ["10.0.0.128"])
    assert alloc.allocate() == A("10.0.0.129")
    # a requested address may be outside the range but inside the subnet
    assert alloc.allocate("10.0.0.7") == A("10.0.0.7")
    assert alloc.allocated == {A("10.0.0.128"), A("10.0.0.129"), A("10.0.0.7")}


def test_allocate_range_at_subnet_end_skips_broadcast() -> None:
    alloc = AddressAllocator(cfg("10.0.0.0/24", ip_range="10.0.0.254/31"))
    assert alloc.allocate() == A("10.0.0.254")
    with pytest.raises(Conflict, match="no available IPv4 addresses"):
        alloc.allocate()


@pytest.mark.parametrize("addr", ["10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.0.7", "10.0.0.2"])
def test_request_reserved_or_taken(addr: str) -> None:
    alloc = AddressAllocator(cfg(aux={"x": "10.0.0.3"}), ["10.0.0.2"])
    with pytest.raises(Conflict) as exc:
        alloc.allocate(addr)
    assert exc.value.message == "Address already in use"


@pytest.mark.parametrize(
    "addr, message",
    [
        (
            "10.0.1.2",
            "Invalid address 10.0.1.2: It does not belong to any of this network's subnets",
        ),
        ("bad", "bad is not an IPv4 address"),
        ("fd00::1", "fd00::1 is not an IPv4 address"),
    ],
)
def test_request_invalid(addr: str, message: str) -> None:
    alloc = AddressAllocator(cfg())
    with pytest.raises(InvalidArgument) as exc:
        alloc.allocate(addr)
    assert exc.value.message == message


def test_release_unknown_is_noop() -> None:
    alloc = AddressAllocator(cfg())
    alloc.release("10.0.0.5")
    assert alloc.allocated == frozenset()


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.none()),
        st.tuples(st.just("request"), st.integers(0, 31)),
        st.tuples(st.just("release"), st.integers(0, 31)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops, ranged=st.booleans(), gw=st.integers(1, 14))
def test_property_no_duplicates_and_rules_hold(
    ops: list[tuple[str, int | None]], ranged: bool, gw: int
) -> None:
    config = cfg(
        "10.9.0.0/28",
        gateway=f"10.9.0.{gw}",
        ip_range="10.9.0.8/29" if ranged else None,
        aux={"a": "10.9.0.9"},
    )
    alloc = AddressAllocator(config)
    held: set[IPv4Address] = set()
    forbidden = {A("10.9.0.0"), A("10.9.0.15"), config.gateway, A("10.9.0.9")}
    for op, arg in ops:
        if op == "alloc":
            try:
                addr = alloc.allocate()
            except Conflict:
                pool = config.ip_range or config.subnet
                assert all(a in held or a in forbidden for a in pool)
                continue
            assert addr in (config.ip_range or config.subnet)
        elif op == "request":
            assert arg is not None
            want = A("10.9.0.0") + arg
            try:
                addr = alloc.allocate(want)
            except InvalidArgument:
                assert want not in config.subnet
                continue
            except Conflict:
                assert want in held or want in forbidden
                continue
            assert addr == want
        else:
            assert arg is not None
            addr = A("10.9.0.0") + arg
            alloc.release(addr)
            held.discard(addr)
            continue
        assert addr not in held
        assert addr not in forbidden
        held.add(addr)
        assert alloc.allocated == held
