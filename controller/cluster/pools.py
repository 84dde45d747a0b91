"""Choices the allocators make before they try a compare-and-swap. Pure.

- VNIs: the lowest free one from 256 (Docker's first overlay VNI) to 2^24 - 1.
- Subnets of global networks: Docker's global default pool, 10.0.0.0/8 cut into /24s,
  10.0.0.0/24 first, skipping every subnet another global network holds.
- Addresses: the first try takes the lowest free address of the network's range (as a
  single node does); after a lost race the next try picks at random among the lowest free
  ones, so that many nodes allocating at once spread out instead of colliding on the same
  address round after round (90 concurrent allocations settle in a handful of rounds).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network

from controller.errors import InvalidArgument
from controller.rules.ipam import IpamConfig, next_free_subnet

VNI_MIN = 256
VNI_MAX = 2**24 - 1
GLOBAL_POOL = (IPv4Network("10.0.0.0/8"), 24)
SPREAD = 32  # how many of the lowest free addresses a retry chooses among


def lowest_free_vni(taken: Iterable[int]) -> int:
    busy = set(taken)
    vni = VNI_MIN
    while vni in busy:
        vni += 1
    if vni > VNI_MAX:
        raise InvalidArgument("no free VXLAN network identifier")
    return vni


def global_subnet(taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first /24 of 10.0.0.0/8 that overlaps no subnet in ``taken``."""
    return next_free_subnet([GLOBAL_POOL], taken)


def free_addresses(config: IpamConfig, taken: Iterable[IPv4Address]) -> Iterator[IPv4Address]:
    """Free addresses of the network's range (ip-range or subnet), lowest first: not the
    subnet's network or broadcast address, the gateway, an aux address or ``taken``."""
    net = config.subnet
    busy = set(taken) | {net.network_address, net.broadcast_address, config.gateway}
    busy.update(config.aux_addresses.values())
    pool = config.ip_range or net
    cur, end = int(pool.network_address), int(pool.broadcast_address)
    while cur <= end:
        addr = IPv4Address(cur)
        if addr not in busy and addr in net:
            yield addr
        cur += 1


def address_candidate(
    config: IpamConfig, taken: Iterable[IPv4Address], attempt: int, rng: random.Random
) -> IPv4Address | None:
    """The address to try on attempt ``attempt`` (0 first); None when the range is full."""
    lowest: list[IPv4Address] = []
    for addr in free_addresses(config, taken):
        lowest.append(addr)
        if attempt == 0 or len(lowest) >= SPREAD:
            break
    if not lowest:
        return None
    return lowest[0] if attempt == 0 else rng.choice(lowest)
