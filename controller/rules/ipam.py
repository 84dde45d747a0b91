"""IPv4 address management: default pools, subnet choice, network IPAM config, addresses.

Pure: callers pass in what is taken (other networks, node routes, allocated
addresses) and persist the results. Error texts follow Docker 20.10
(docker CLI ``consolidateIpam``, libnetwork ipam and endpoint allocation).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from controller.errors import Conflict, InvalidArgument

Pool = tuple[IPv4Network, int]

#: Docker 20.10's local default address pools, in allocation order.
DEFAULT_POOLS: list[Pool] = [
    (IPv4Network("172.17.0.0/16"), 16),
    (IPv4Network("172.18.0.0/16"), 16),
    (IPv4Network("172.19.0.0/16"), 16),
    (IPv4Network("172.20.0.0/14"), 16),
    (IPv4Network("172.24.0.0/14"), 16),
    (IPv4Network("172.28.0.0/14"), 16),
    (IPv4Network("192.168.0.0/16"), 20),
]

#: Blocks a bridge network cannot use: they are not unicast space a host may route to.
RESERVED: list[tuple[IPv4Network, str]] = [
    (IPv4Network("0.0.0.0/8"), '"this network" (RFC 1122)'),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("255.255.255.255/32"), "the limited broadcast address"),
]

POOLS_EXHAUSTED = "all predefined address pools have been fully subnetted"
OVERLAPPING_CONFIGS = "multiple overlapping subnet configuration is not supported"
ONE_POOL = "only one IPv4 subnet is supported per network"
OVERLAP = "Pool overlaps with other one on this address space"
ADDRESS_IN_USE = "Address already in use"


def parse_cidr(text: str) -> IPv4Network:
    """A CIDR as Go's ``net.ParseCIDR`` would accept it (host bits allowed, then masked)."""
    try:
        if "/" not in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {text}") from None
    if not isinstance(net, IPv4Network):
        raise InvalidArgument(f"IPv6 subnets are not supported: {text}")
    return net


def parse_address_pool(spec: str) -> Pool:
    """``base=10.10.0.0/16,size=24`` (dockerd ``--default-address-pool``)."""
    base: IPv4Network | None = None
    size: int | None = None
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid field '{item}' must be a key=value pair")
        key, value = key.strip().lower(), value.strip().lower()
        if key == "base":
            base = parse_cidr(value)
        elif key == "size":
            try:
                size = int(value)
            except ValueError:
                raise InvalidArgument(
                    f'invalid size value: "{value}" (must be integer): '
                    f'strconv.Atoi: parsing "{value}": invalid syntax'
                ) from None
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{item}'")
    if base is None:
        raise InvalidArgument(f"address pool requires a base: {spec}")
    if size is None:
        raise InvalidArgument(f"address pool requires a size: {spec}")
    if not base.prefixlen <= size <= 30:
        raise InvalidArgument(f"invalid size {size} for address pool {base}")
    return base, size


def _overlaps(a: IPv4Network, b: IPv4Network) -> bool:
    return a.overlaps(b)


def next_free_subnet(pools: Iterable[Pool], taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first pool prefix overlapping nothing in ``taken`` (networks and node routes).

    A default route (``/0``) in ``taken`` is ignored.
    """
    busy = sorted((t for t in taken if t.prefixlen > 0), key=lambda n: int(n.network_address))
    for base, size in pools:
        step = 1 << (32 - size)
        cand = int(base.network_address)
        end = int(base.broadcast_address)
        while cand + step - 1 <= end:
            last = cand + step - 1
            blocker = None
            for t in busy:
                if int(t.network_address) <= last and int(t.broadcast_address) >= cand:
                    blocker = t
                    break
            if blocker is None:
                return IPv4Network((cand, size))
            # Jump past the blocker, aligned to the next prefix boundary.
            after = int(blocker.broadcast_address) + 1
            cand = max(cand + step, (after + step - 1) // step * step)
    raise InvalidArgument(POOLS_EXHAUSTED)


def check_reserved(subnet: IPv4Network) -> None:
    """Refuse a subnet in loopback, multicast, link-local, "this network" or broadcast space."""
    for block, what in RESERVED:
        if subnet.overlaps(block):
            raise InvalidArgument(
                f"invalid subnet {subnet}: it overlaps {block}, which is reserved for {what}"
            )


def check_one_pool(subnets: list[str]) -> None:
    """More than one subnet for a network: Docker's text when two overlap, else Hawser's limit."""
    parsed = []
    for text in subnets:
        try:
            parsed.append(parse_cidr(text))
        except InvalidArgument:
            continue
    for i, a in enumerate(parsed):
        if any(a.overlaps(b) for b in parsed[i + 1 :]):
            raise InvalidArgument(OVERLAPPING_CONFIGS)
    raise InvalidArgument(ONE_POOL)


def check_overlap(subnet: IPv4Network, others: Iterable[IPv4Network]) -> None:
    """Refuse a subnet overlapping another network's."""
    for other in others:
        if _overlaps(subnet, other):
            raise Conflict(OVERLAP)


@dataclass(frozen=True)
class IpamConfig:
    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None
    aux_addresses: dict[str, IPv4Address] = field(default_factory=dict)


def _in_subnet(text: str, subnet: IPv4Network) -> IPv4Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr if isinstance(addr, IPv4Address) and addr in subnet else None


def build_ipam_config(
    subnet: str | None,
    gateway: str | None,
    ip_range: str | None,
    aux: Mapping[str, str],
    pick_subnet: Callable[[], IPv4Network],
) -> IpamConfig:
    """Validate ``network create`` IPAM flags as Docker does and fill in defaults.

    Without ``subnet`` one is picked with ``pick_subnet``; ``gateway``/``ip_range``
    then are errors, as are non-empty ``aux`` entries. The gateway defaults to
    the subnet's first host address. Aux entries with an empty value are ignored.
    """
    aux = {k: v for k, v in aux.items() if v != ""}
    if subnet is None:
        if gateway is not None or ip_range is not None:
            raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
        for value in aux.values():
            raise InvalidArgument(f"no matching subnet for aux-address {value}")
        net = pick_subnet()
    else:
        net = parse_cidr(subnet)
        if str(net.network_address) != subnet.split("/")[0]:
            raise InvalidArgument(f"invalid subnet {subnet}: it should be {net}")
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {net} is too small: it has no room for a gateway and hosts")
    check_reserved(net)

    rng: IPv4Network | None = None
    if ip_range is not None:
        rng = parse_cidr(ip_range)
        if not rng.subnet_of(net):
            raise InvalidArgument(f"no matching subnet for range {ip_range}")

    if gateway is None:
        gw = net.network_address + 1
    else:
        found = _in_subnet(gateway, net)
        if found is None:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
        if found in (net.network_address, net.broadcast_address):
            raise Conflict(ADDRESS_IN_USE)
        gw = found

    aux_addrs: dict[str, IPv4Address] = {}
    for name, value in aux.items():
        addr = _in_subnet(value, net)
        if addr is None:
            raise InvalidArgument(f"no matching subnet for aux-address {value}")
        aux_addrs[name] = addr
    return IpamConfig(net, gw, rng, aux_addrs)


class AddressAllocator:
    """Container addresses of one network.

    Reserved: the subnet's network and broadcast addresses, the gateway and the
    aux addresses. Automatic allocation takes the lowest free address of the
    ip-range (or subnet); a requested address may be anywhere in the subnet.
    """

    def __init__(
        self,
        config: IpamConfig,
        allocated: Iterable[IPv4Address | str] = (),
        network_name: str = "",
        network_id: str = "",
    ) -> None:
        self.config = config
        self.network_name = network_name
        self.network_id = network_id
        net = config.subnet
        self._reserved = {net.network_address, net.broadcast_address, config.gateway}
        self._reserved.update(config.aux_addresses.values())
        self._allocated: set[IPv4Address] = {IPv4Address(a) for a in allocated}

    @property
    def allocated(self) -> frozenset[IPv4Address]:
        return frozenset(self._allocated)

    def is_free(self, addr: IPv4Address) -> bool:
        return addr in self.config.subnet and addr not in self._reserved | self._allocated

    def allocate(self, requested: str | IPv4Address | None = None) -> IPv4Address:
        if requested is not None:
            return self._allocate_requested(requested)
        pool = self.config.ip_range or self.config.subnet
        cur = int(pool.network_address)
        end = int(pool.broadcast_address)
        taken = self._reserved | self._allocated
        while cur <= end:
            addr = IPv4Address(cur)
            if addr not in taken and addr in self.config.subnet:
                self._allocated.add(addr)
                return addr
            cur += 1
        raise Conflict(
            "no available IPv4 addresses on this network's address pools: "
            f"{self.network_name} ({self.network_id})"
        )

    def _allocate_requested(self, requested: str | IPv4Address) -> IPv4Address:
        try:
            addr = ipaddress.ip_address(requested)
        except ValueError:
            raise InvalidArgument(f"{requested} is not an IPv4 address") from None
        if not isinstance(addr, IPv4Address):
            raise InvalidArgument(f"{requested} is not an IPv4 address")
        if addr not in self.config.subnet:
            raise InvalidArgument(
                f"Invalid address {addr}: It does not belong to any of this network's subnets"
            )
        if addr in self._reserved or addr in self._allocated:
            raise Conflict(ADDRESS_IN_USE)
        self._allocated.add(addr)
        return addr

    def release(self, addr: str | IPv4Address) -> None:
        """Give an address back; releasing a free address is a no-op."""
        self._allocated.discard(IPv4Address(addr))


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the IPv4 address."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)
