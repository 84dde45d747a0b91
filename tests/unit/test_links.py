"""--link parsing, environment and hosts names (moby daemon/links)."""

from __future__ import annotations

import pytest

from controller.errors import InvalidArgument
from controller.rules.legacy_links import link_env, link_hosts_names, parse_link

# Captured from Docker 20.10 (shared/reference/link-env.txt): `env | sort` in web2, --link db2:db.
CAPTURED_ENV = """\
DB_NAME=/web2/db
DB_PORT=tcp://172.17.0.2:5432
DB_PORT_5432_TCP=tcp://172.17.0.2:5432
DB_PORT_5432_TCP_ADDR=172.17.0.2
DB_PORT_5432_TCP_PORT=5432
DB_PORT_5432_TCP_PROTO=tcp
HOME=/
HOSTNAME=c9a13d6cc644
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("db", ("db", "db")),
        ("db:database", ("db", "database")),
        ("/db:/web/database", ("db", "database")),
    ],
)
def test_parse_link(spec: str, expected: tuple[str, str]) -> None:
    assert parse_link(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty string specified for links"),
        ("a:b:c", "bad format for links: a:b:c"),
        ("db:", "bad format for links: db:"),
        (":db", "bad format for links: :db"),
    ],
)
def test_parse_link_bad(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_link(spec)
    assert exc.value.message == message


def test_matches_captured_docker_env() -> None:
    """The link part of link-env.txt (a `env | sort` inside web2 linked to db2 as db)."""
    env = link_env(
        "db",
        "web2",
        "db2",
        "172.17.0.2",
        [(5432, "tcp")],
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    )
    captured = [line for line in CAPTURED_ENV.splitlines() if line.startswith("DB_")]
    assert sorted(env) == captured


def test_order_ranges_and_child_env() -> None:
    env = link_env(
        "my-db",
        "web",
        "db",
        "10.0.0.2",
        [(8001, "tcp"), (53, "udp"), (8000, "tcp"), (8002, "tcp"), (9000, "tcp")],
        ["HOME=/root", "PATH=/bin", "HOSTNAME=abc", "PGDATA=/data", "EMPTY=", "NOEQUALS"],
    )
    a = "MY_DB"

    def port(n: int, proto: str) -> list[str]:
        p = f"{a}_PORT_{n}_{proto.upper()}"
        return [
            f"{p}={proto}://10.0.0.2:{n}",
            f"{p}_ADDR=10.0.0.2",
            f"{p}_PORT={n}",
            f"{p}_PROTO={proto}",
        ]

    expected = (
        [f"{a}_PORT=tcp://10.0.0.2:8000"]
        + port(8000, "tcp")
        + port(8001, "tcp")
        + port(8002, "tcp")
        + port(9000, "tcp")
        + [
            f"{a}_PORT_8000_TCP_START=tcp://10.0.0.2:8000",
            f"{a}_PORT_8000_TCP_PORT_START=8000",
            f"{a}_PORT_8000_TCP_END=tcp://10.0.0.2:8002",
            f"{a}_PORT_8000_TCP_PORT_END=8002",
        ]
        + port(53, "udp")
        + [f"{a}_NAME=/web/my-db", f"{a}_ENV_PGDATA=/data", f"{a}_ENV_EMPTY="]
    )
    assert env == expected


def test_range_at_the_end() -> None:
    env = link_env("x", "p", "c", "1.1.1.1", [(1, "udp"), (2, "udp")])
    assert env[-5:] == [
        "X_PORT_1_UDP_START=udp://1.1.1.1:1",
        "X_PORT_1_UDP_PORT_START=1",
        "X_PORT_1_UDP_END=udp://1.1.1.1:2",
        "X_PORT_1_UDP_PORT_END=2",
        "X_NAME=/p/x",
    ]


def test_same_number_different_proto_is_not_a_range() -> None:
    env = link_env("x", "p", "c", "1.1.1.1", [(80, "udp"), (80, "tcp"), (81, "udp")])
    assert env[0] == "X_PORT=tcp://1.1.1.1:80"
    assert "X_PORT_80_UDP_START=udp://1.1.1.1:80" in env
    assert not any("TCP_START" in v for v in env)


def test_no_ports() -> None:
    assert link_env("db", "web", "db", "10.0.0.2", []) == ["DB_NAME=/web/db"]


def test_hosts_names() -> None:
    assert link_hosts_names("db", "3341929632a6", "db2") == "db 3341929632a6 db2"
    assert link_hosts_names("db", "3341929632a6", "db") == "db 3341929632a6"
