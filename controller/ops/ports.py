"""Host port allocation for published ports: Docker's conflict rules and ephemeral choice."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from controller.errors import Conflict, InvalidArgument
from controller.rules import portspec
from controller.rules.model import PortBinding

ANY = "0.0.0.0"
_SOCK_TYPE = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


def host_can_bind(proto: str, host_ip: str, port: int) -> int:
    """0 when no process of the node holds (host_ip, port); else the errno of bind()."""
    kind = _SOCK_TYPE.get(proto)
    if kind is None:
        return 0
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host_ip, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return 0


class PortAllocator:
    """Allocates for one container; ``bound`` is what other containers hold already."""

    def __init__(self, bound: dict[str, dict[int, set[str]]], ephemeral: tuple[int, int]) -> None:
        self._bound = bound
        self._ephemeral = ephemeral

    def _taken(self, proto: str, host_ip: str, port: int) -> bool:
        ips = self._bound.get(proto, {}).get(port, set())
        return bool(ips) and (host_ip == ANY or ANY in ips or host_ip in ips)

    def _claim(self, proto: str, host_ip: str, port: int) -> None:
        self._bound.setdefault(proto, {}).setdefault(port, set()).add(host_ip)

    def _free(self, proto: str, host_ip: str, port: int) -> bool:
        return not self._taken(proto, host_ip, port) and host_can_bind(proto, host_ip, port) == 0

    def allocate(
        self, ctr_id: str, requests: Iterable[portspec.PortRequest], default_ip: str
    ) -> list[PortBinding]:
        out = []
        for req in requests:
            host_ip = req.host_ip or default_ip or ANY
            if req.host_port_low is None:
                port = self._first_free(req.proto, host_ip, *self._ephemeral)
            elif req.host_port_high != req.host_port_low:
                assert req.host_port_high is not None
                port = self._first_free(req.proto, host_ip, req.host_port_low, req.host_port_high)
            else:
                port = req.host_port_low
                if self._taken(req.proto, host_ip, port):
                    raise Conflict(f"Bind for {host_ip}:{port} failed: port is already allocated")
                code = host_can_bind(req.proto, host_ip, port)
                if code == errno.EADDRNOTAVAIL:
                    raise InvalidArgument(
                        f"failed to bind host port {host_ip}:{port}/{req.proto}: "
                        "cannot assign requested address"
                    )
                if code:
                    raise Conflict(
                        f"failed to bind host port {host_ip}:{port}/{req.proto}: "
                        "address already in use"
                    )
            self._claim(req.proto, host_ip, port)
            out.append(PortBinding(ctr_id, req.proto, host_ip, port, req.container_port))
        return out

    def _first_free(self, proto: str, host_ip: str, low: int, high: int) -> int:
        for port in range(low, high + 1):
            if self._free(proto, host_ip, port):
                return port
        if (low, high) == self._ephemeral:
            raise Conflict("no free ports in the ephemeral range")
        raise Conflict(f"Bind for {host_ip}:{low}-{high} failed: port is already allocated")
