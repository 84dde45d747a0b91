"""Allow entries wanted by legacy links: a pure function of networks, containers, endpoints."""

from __future__ import annotations

from controller.ops.linkpolicy import Allow, wanted
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import Port

BRIDGE = Network(id="b" * 64, name="bridge", key=1, driver="bridge", created="", icc=False)
USER = Network(id="u" * 64, name="front", key=2, driver="bridge", created="", icc=False)


def ctr(
    name: str, created: str, *, expose: list[Port] | None = None, links: list[str] | None = None
) -> Container:
    return Container(
        id=(name * 64)[:64],
        name=name,
        created=created,
        network_mode="bridge",
        hostname=name,
        netns="",
        expose=expose or [],
        links=links or [],
    )


def ep(c: Container, ip: str, net: Network = BRIDGE) -> Endpoint:
    return Endpoint(f"e-{c.name}-{net.name}", c.id, net.id, "eth0", "hv", ip, 16, "", "")


DB = ctr(
    "db",
    "2024-01-01T00:00:01.000000Z",
    expose=[Port(5432, "tcp"), Port(53, "udp"), Port(9, "sctp")],
)
WEB = ctr("web", "2024-01-01T00:00:02.000000Z", links=["db:database"])


def test_link_opens_the_childs_tcp_and_udp_exposed_ports_from_the_parent() -> None:
    got = wanted([BRIDGE], [DB, WEB], [ep(DB, "172.17.0.2"), ep(WEB, "172.17.0.3")])
    assert got == {
        Allow("172.17.0.3", "172.17.0.2", "tcp", 5432),
        Allow("172.17.0.3", "172.17.0.2", "udp", 53),
    }


def test_nothing_when_icc_is_on() -> None:
    on = Network(id=BRIDGE.id, name="bridge", key=1, driver="bridge", created="", icc=True)
    assert wanted([on], [DB, WEB], [ep(DB, "172.17.0.2"), ep(WEB, "172.17.0.3")]) == set()


def test_nothing_without_either_side_on_the_default_bridge() -> None:
    assert (
        wanted([BRIDGE, USER], [DB, WEB], [ep(DB, "10.0.0.2", USER), ep(WEB, "172.17.0.3")])
        == set()
    )
    assert wanted([BRIDGE], [WEB], [ep(WEB, "172.17.0.3")]) == set()


def test_a_container_created_after_the_parent_under_the_childs_name_is_not_linked() -> None:
    newer = ctr("db", "2024-01-01T00:00:09.000000Z", expose=[Port(5432, "tcp")])
    assert wanted([BRIDGE], [newer, WEB], [ep(newer, "172.17.0.2"), ep(WEB, "172.17.0.3")]) == set()


def test_link_by_id_prefix() -> None:
    parent = ctr("app", "2024-01-01T00:00:03.000000Z", links=[f"{DB.id[:5]}:d"])
    got = wanted([BRIDGE], [DB, parent], [ep(DB, "172.17.0.2"), ep(parent, "172.17.0.4")])
    assert Allow("172.17.0.4", "172.17.0.2", "tcp", 5432) in got
