"""The ``ps`` PORTS column and ``port`` lines, formatted by the CLI from the API's JSON
(Docker's cli ``DisplayablePorts`` and ``docker port``)."""

from __future__ import annotations

from typing import Any

import pytest

from cli.client import CliError
from cli.ports import port_lines, ports_column


def B(proto: str, cport: int, ip: str, hport: int) -> dict[str, Any]:
    """A published port as the list entry's ``Ports`` holds it."""
    return {"IP": ip, "PrivatePort": cport, "PublicPort": hport, "Type": proto}


def E(cport: int, proto: str) -> dict[str, Any]:
    """An exposed-only port."""
    return {"PrivatePort": cport, "Type": proto}


@pytest.mark.parametrize(
    "ports, expected",
    [
        ([], ""),
        ([B("tcp", 80, "", 8080), E(80, "tcp")], "0.0.0.0:8080->80/tcp"),
        ([B("tcp", 7000, "0.0.0.0", 32768)], "0.0.0.0:32768->7000/tcp"),
        ([E(5432, "tcp")], "5432/tcp"),
        ([B("tcp", p, "", p) for p in (8000, 8001, 8002)], "0.0.0.0:8000-8002->8000-8002/tcp"),
        ([E(8000, "tcp"), E(8001, "tcp"), E(8002, "tcp")], "8000-8002/tcp"),
        (
            [
                B("tcp", 80, "", 8080),
                B("tcp", 443, "127.0.0.1", 443),
                E(80, "tcp"),
                E(443, "tcp"),
                E(5432, "tcp"),
                E(53, "udp"),
            ],
            "53/udp, 127.0.0.1:443->443/tcp, 5432/tcp, 0.0.0.0:8080->80/tcp",
        ),  # fmt: skip
        ([B("tcp", 80, "", 80), B("udp", 80, "", 80)], "0.0.0.0:80->80/tcp, 0.0.0.0:80->80/udp"),
        # a gap splits a group; Docker emits the closed group first
        ([E(1, "tcp"), E(2, "tcp"), E(4, "tcp")], "1-2/tcp, 4/tcp"),
        # exposed-only listed once even if given twice
        ([E(5432, "tcp"), E(5432, "tcp")], "5432/tcp"),
        # one container port published twice with different host ports
        (
            [B("tcp", 80, "", 8080), B("tcp", 80, "", 8081)],
            "0.0.0.0:8080->80/tcp, 0.0.0.0:8081->80/tcp",
        ),
    ],
)
def test_ports_column(ports: list[dict[str, Any]], expected: str) -> None:
    assert ports_column(ports) == expected


INSPECT = {
    "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
    "80/tcp": [
        {"HostIp": "127.0.0.1", "HostPort": "8080"},
        {"HostIp": "0.0.0.0", "HostPort": "8080"},
    ],
    "80/udp": [{"HostIp": "0.0.0.0", "HostPort": "9090"}],
    "443/tcp": None,  # exposed, not published
}


def test_port_lines_all_sorted() -> None:
    assert port_lines(INSPECT) == [
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:8080",
        "80/udp -> 0.0.0.0:9090",
    ]


def test_port_lines_private() -> None:
    assert port_lines(INSPECT, "80", "web") == ["0.0.0.0:8080", "127.0.0.1:8080"]
    assert port_lines(INSPECT, "80/udp", "web") == ["0.0.0.0:9090"]
    assert port_lines(INSPECT, "53/UDP", "web") == ["0.0.0.0:5353"]


@pytest.mark.parametrize(
    "private, message",
    [
        ("81", "no public port '81/tcp' published for web"),
        ("443", "no public port '443/tcp' published for web"),
        ("80/sctp", "no public port '80/sctp' published for web"),
        ("abc", 'strconv.ParseUint: parsing "abc": invalid syntax'),
        ("65536", 'strconv.ParseUint: parsing "65536": invalid syntax'),
        ("80/x", "invalid proto: x"),
    ],
)
def test_port_lines_refusals(private: str, message: str) -> None:
    with pytest.raises(CliError) as exc:
        port_lines(INSPECT, private, "web")
    assert exc.value.message == message
