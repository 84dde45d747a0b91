"""Bridge driver options, labels, aux addresses, env values."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from controller.errors import InvalidArgument
from controller.rules.netopts import (
    BridgeOptions,
    parse_bridge_options,
    parse_env,
)

P = "com.docker.network.bridge."


def test_defaults() -> None:
    assert parse_bridge_options({}) == BridgeOptions(
        None, True, True, IPv4Address("0.0.0.0"), 1500, None, {}
    )


def test_all_options() -> None:
    opts = parse_bridge_options(
        {
            P + "name": "br-test",
            P + "enable_ip_masquerade": "false",
            P + "enable_icc": "0",
            P + "host_binding_ipv4": "127.0.0.1",
            "com.docker.network.driver.mtu": "1450",
            "com.docker.network.host_ipv4": "10.0.0.9",
            "com.example.custom": "kept",
        }
    )
    assert opts == BridgeOptions(
        "br-test",
        False,
        False,
        IPv4Address("127.0.0.1"),
        1450,
        IPv4Address("10.0.0.9"),
        {"com.example.custom": "kept"},
    )


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_parse_bool_true(value: str) -> None:
    assert parse_bridge_options({P + "enable_icc": value}).enable_icc is True


@pytest.mark.parametrize("value", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_parse_bool_false(value: str) -> None:
    assert parse_bridge_options({P + "enable_icc": value}).enable_icc is False


def test_mtu_zero_means_default() -> None:
    assert parse_bridge_options({"com.docker.network.driver.mtu": "0"}).mtu == 1500
    assert parse_bridge_options({"com.docker.network.driver.mtu": "+9000"}).mtu == 9000


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            P + "enable_icc",
            "x",
            "failed to parse com.docker.network.bridge.enable_icc value: x "
            '(strconv.ParseBool: parsing "x": invalid syntax)',
        ),
        (
            P + "enable_ip_masquerade",
            "yes",
            "failed to parse com.docker.network.bridge.enable_ip_masquerade value: yes "
            '(strconv.ParseBool: parsing "yes": invalid syntax)',
        ),
        (
            "com.docker.network.driver.mtu",
            "big",
            "failed to parse com.docker.network.driver.mtu value: big "
            '(strconv.Atoi: parsing "big": invalid syntax)',
        ),
        (
            "com.docker.network.driver.mtu",
            "99999999999999999999",
            "failed to parse com.docker.network.driver.mtu value: 99999999999999999999 "
            '(strconv.Atoi: parsing "99999999999999999999": value out of range)',
        ),
        ("com.docker.network.driver.mtu", "-1", "invalid MTU number: -1"),
        ("com.docker.network.driver.mtu", "67", "invalid MTU number: 67"),
        ("com.docker.network.driver.mtu", "65536", "invalid MTU number: 65536"),
        (
            P + "host_binding_ipv4",
            "nope",
            "failed to parse com.docker.network.bridge.host_binding_ipv4 value: nope (nil ip)",
        ),
        (
            P + "host_binding_ipv4",
            "::1",
            "failed to parse com.docker.network.bridge.host_binding_ipv4 value: ::1 "
            "(IPv6 is not supported)",
        ),
        (
            "com.docker.network.host_ipv4",
            "1.2.3",
            "failed to parse com.docker.network.host_ipv4 value: 1.2.3 (nil ip)",
        ),
        (
            P + "name",
            "a-very-long-bridge",
            "failed to parse com.docker.network.bridge.name value: a-very-long-bridge "
            "(invalid interface name)",
        ),
        (
            P + "name",
            "a/b",
            "failed to parse com.docker.network.bridge.name value: a/b (invalid interface name)",
        ),
    ],
)
def test_bad_values(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_bridge_options({key: value})
    assert exc.value.message == message
    assert exc.value.status == 400


def test_env() -> None:
    assert parse_env(["A=1", "B=", "C=x=y"]) == ["A=1", "B=", "C=x=y"]
    assert parse_env(["ONLY"]) == []
    with pytest.raises(InvalidArgument) as exc:
        parse_env(["=v"])
    assert exc.value.message == "invalid environment variable: =v"
