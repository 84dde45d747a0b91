"""Port spec parsing and display, against Docker's texts (go-connections nat, docker cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import HawserError, InvalidArgument, NotFound
from controller.rules.portspec import (
    Binding,
    PortRequest,
    ephemeral_port_range,
    format_port_lines,
    format_ports_column,
    parse_expose,
    parse_publish,
)

R = PortRequest


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("80", [R("tcp", 80, "", None, None)]),
        ("80/udp", [R("udp", 80, "", None, None)]),
        ("80/SCTP", [R("sctp", 80, "", None, None)]),
        ("8080:80", [R("tcp", 80, "", 8080, 8080)]),
        ("8080:80/udp", [R("udp", 80, "", 8080, 8080)]),
        ("127.0.0.1:8080:80", [R("tcp", 80, "127.0.0.1", 8080, 8080)]),
        ("0.0.0.0:8080:80", [R("tcp", 80, "", 8080, 8080)]),
        ("127.0.0.1::80", [R("tcp", 80, "127.0.0.1", None, None)]),
        ("0:80", [R("tcp", 80, "", None, None)]),
        (
            "8000-8002:9000-9002",
            [
                R("tcp", 9000, "", 8000, 8000),
                R("tcp", 9001, "", 8001, 8001),
                R("tcp", 9002, "", 8002, 8002),
            ],
        ),
        ("8000-8010:80", [R("tcp", 80, "", 8000, 8010)]),
        ("7000-7001", [R("tcp", 7000, "", None, None), R("tcp", 7001, "", None, None)]),
        (
            "10.0.0.1:5000-5001:6000-6001/udp",
            [
                R("udp", 6000, "10.0.0.1", 5000, 5000),
                R("udp", 6001, "10.0.0.1", 5001, 5001),
            ],
        ),
        ("65535:65535", [R("tcp", 65535, "", 65535, 65535)]),
        ("080:080", [R("tcp", 80, "", 80, 80)]),
    ],
)
def test_parse_publish_good(spec: str, expected: list[PortRequest]) -> None:
    assert parse_publish(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "no port specified: <empty>"),
        ("8080:", "no port specified: 8080:<empty>"),
        ("1.2.3.4:8080:", "no port specified: 1.2.3.4:8080:<empty>"),
        ("/tcp", "no port specified: /tcp<empty>"),
        ("80/icmp", "invalid proto: icmp"),
        ("8080:80/xyz", "invalid proto: xyz"),
        ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
        ("localhost:8080:80", "invalid IP address: localhost"),
        ("abc", "invalid containerPort: abc"),
        ("8080:abc", "invalid containerPort: abc"),
        ("8080:0", "invalid containerPort: 0"),
        ("8080:65536", "invalid containerPort: 65536"),
        ("8080:+80", "invalid containerPort: +80"),
        ("8080:-80", "invalid containerPort: -80"),
        ("8080:90-80", "invalid containerPort: 90-80"),
        ("8080:80-", "invalid containerPort: 80-"),
        ("8080:1-2-3", "invalid containerPort: 1-2-3"),
        ("abc:80", "invalid hostPort: abc"),
        ("70000:80", "invalid hostPort: 70000"),
        ("9-8:80", "invalid hostPort: 9-8"),
        (
            "8000-8001:9000-9002",
            "invalid ranges specified for container and host Ports: 9000-9002 and 8000-8001",
        ),
        (
            "8000:9000-9002",
            "invalid ranges specified for container and host Ports: 9000-9002 and 8000",
        ),
        ("[::1]:8080:80", "IPv6 host addresses are not supported: ::1"),
        ("::1:8080:80", "IPv6 host addresses are not supported: ::1"),
        ("[::1:8080:80", "invalid IP address [::1: missing ']' in address"),
    ],
)
def test_parse_publish_bad(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_publish(spec)
    assert exc.value.message == message
    assert exc.value.status == 400


def test_parse_publish_check_order_matches_docker() -> None:
    # proto is checked before the IP, the IP before the ports.
    with pytest.raises(InvalidArgument, match="invalid proto: bad"):
        parse_publish("x.y:abc:def/bad")
    with pytest.raises(InvalidArgument, match="invalid IP address: x.y"):
        parse_publish("x.y:abc:def")
    with pytest.raises(InvalidArgument, match="invalid containerPort: def"):
        parse_publish("1.1.1.1:abc:def")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("80", [(80, "tcp")]),
        ("53/udp", [(53, "udp")]),
        ("8000-8002/tcp", [(8000, "tcp"), (8001, "tcp"), (8002, "tcp")]),
        ("9/SCTP", [(9, "sctp")]),
    ],
)
def test_parse_expose_good(spec: str, expected: list[tuple[int, str]]) -> None:
    assert parse_expose(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("80:80", "invalid port format for --expose: 80:80"),
        ("abc", "invalid range format for --expose: abc"),
        ("90-80", "invalid range format for --expose: 90-80"),
        ("", "invalid range format for --expose: "),
        ("0", "invalid range format for --expose: 0"),
        ("80/foo", "invalid proto: foo"),
    ],
)
def test_parse_expose_bad(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_expose(spec)
    assert exc.value.message == message


def test_ephemeral_port_range(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("32768\t60999\n")
    assert ephemeral_port_range(str(f)) == (32768, 60999)
    f.write_text("5000 4000\n")
    with pytest.raises(HawserError):
        ephemeral_port_range(str(f))


def test_ephemeral_port_range_of_this_machine() -> None:
    low, high = ephemeral_port_range()
    assert 0 < low <= high <= 65535


def B(proto: str, cport: int, ip: str, hport: int) -> Binding:
    return Binding(proto, cport, ip, hport)


@pytest.mark.parametrize(
    "bindings, exposed, expected",
    [
        ([], [], ""),
        ([B("tcp", 80, "", 8080)], [(80, "tcp")], "0.0.0.0:8080->80/tcp"),
        ([B("tcp", 7000, "0.0.0.0", 32768)], [], "0.0.0.0:32768->7000/tcp"),
        ([], [(5432, "tcp")], "5432/tcp"),
        (
            [B("tcp", p, "", p) for p in (8000, 8001, 8002)],
            [],
            "0.0.0.0:8000-8002->8000-8002/tcp",
        ),
        ([], [(8000, "tcp"), (8001, "tcp"), (8002, "tcp")], "8000-8002/tcp"),
        (
            [B("tcp", 80, "", 8080), B("tcp", 443, "127.0.0.1", 443)],
            [(80, "tcp"), (443, "tcp"), (5432, "tcp"), (53, "udp")],
            "53/udp, 127.0.0.1:443->443/tcp, 5432/tcp, 0.0.0.0:8080->80/tcp",
        ),
        (
            [B("tcp", 80, "", 80), B("udp", 80, "", 80)],
            [],
            "0.0.0.0:80->80/tcp, 0.0.0.0:80->80/udp",
        ),
        # a gap splits a group; Docker emits the closed group first
        ([], [(1, "tcp"), (2, "tcp"), (4, "tcp")], "1-2/tcp, 4/tcp"),
        # exposed-only listed once even if given twice
        ([], [(5432, "tcp"), (5432, "tcp")], "5432/tcp"),
        # one container port published twice with different host ports
        (
            [B("tcp", 80, "", 8080), B("tcp", 80, "", 8081)],
            [],
            "0.0.0.0:8080->80/tcp, 0.0.0.0:8081->80/tcp",
        ),
    ],
)
def test_format_ports_column(
    bindings: list[Binding], exposed: list[tuple[int, str]], expected: str
) -> None:
    assert format_ports_column(bindings, exposed) == expected


def test_format_port_lines_all_sorted() -> None:
    bindings = [B("udp", 53, "", 5353), B("tcp", 80, "127.0.0.1", 8080), B("tcp", 80, "", 8080)]
    assert format_port_lines(bindings) == [
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:8080",
    ]


def test_format_port_lines_private() -> None:
    bindings = [B("tcp", 80, "", 8080), B("udp", 80, "", 9090)]
    assert format_port_lines(bindings, "80", "web") == ["0.0.0.0:8080"]
    assert format_port_lines(bindings, "80/tcp", "web") == ["0.0.0.0:8080"]
    assert format_port_lines(bindings, "80/udp", "web") == ["0.0.0.0:9090"]


@pytest.mark.parametrize(
    "private, message",
    [
        ("81", "no public port '81/tcp' published for web"),
        ("80/sctp", "no public port '80/sctp' published for web"),
    ],
)
def test_format_port_lines_unpublished(private: str, message: str) -> None:
    with pytest.raises(NotFound) as exc:
        format_port_lines([B("tcp", 80, "", 8080)], private, "web")
    assert exc.value.message == message
    assert exc.value.status == 404


def test_format_port_lines_bad_private() -> None:
    with pytest.raises(InvalidArgument) as exc:
        format_port_lines([], "abc", "web")
    assert exc.value.message == 'strconv.ParseUint: parsing "abc": invalid syntax'
    with pytest.raises(InvalidArgument, match="invalid proto: x"):
        format_port_lines([], "80/x", "web")
