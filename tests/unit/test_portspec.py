"""Port spec parsing against Docker's texts (go-connections nat); the one binding type."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import HawserError, InvalidArgument
from controller.ops.ports import ephemeral_port_range
from controller.rules.portspec import (
    Port,
    PortBinding,
    exposed,
    parse_expose,
    parse_publish,
    require_datapath_protocols,
)

R = PortBinding


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
def test_parse_publish_good(spec: str, expected: list[PortBinding]) -> None:
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


def test_bound_and_asked_bindings_are_one_type() -> None:
    asked = parse_publish("127.0.0.1:8000-8010:80/udp")[0]
    assert (asked.host_port, asked.host_port_text, asked.port) == (0, "8000-8010", Port(80, "udp"))
    bound = PortBinding.bound("udp", 80, "127.0.0.1", 8003)
    assert (bound.host_port, bound.host_port_text) == (8003, "8003")
    assert R("tcp", 80, "", None, None).host_port_text == ""
    assert str(Port(53, "udp")) == "53/udp"


def test_exposed_ports_once_in_order_given() -> None:
    published = parse_publish("8080:80") + parse_publish("53/udp")
    assert exposed(["443", "80", "53/udp"], published) == [
        Port(443, "tcp"), Port(80, "tcp"), Port(53, "udp"),
    ]  # fmt: skip
    assert len(exposed(["1-30000"], parse_publish("1-30000:1-30000"))) == 30000


def test_only_datapath_protocols_can_be_published() -> None:
    require_datapath_protocols(parse_publish("80") + parse_publish("53/udp"))
    with pytest.raises(InvalidArgument) as exc:
        require_datapath_protocols(parse_publish("9/sctp"))
    assert exc.value.message == (
        "publishing sctp ports is not supported by Hawser's datapath: 9/sctp"
    )
