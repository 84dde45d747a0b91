"""Who resolves what on user-defined networks (records.View), and the responder's replies."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from controller.plugins.dns import records, responder
from controller.rules.model import Container, Endpoint, Network

FRONT = Network(id="f" * 64, name="front", key=2, driver="bridge", created="", gateway="10.1.0.1")
BACK = Network(id="a" * 64, name="back", key=3, driver="bridge", created="", gateway="10.2.0.1")
BRIDGE = Network(
    id="b" * 64, name="bridge", key=1, driver="bridge", created="", gateway="172.17.0.1"
)


def ctr(name: str, **kw: object) -> Container:
    return Container(
        id=(name.encode().hex() * 64)[:64],
        name=name,
        created="",
        network_mode="front",
        hostname=str(kw.pop("hostname", name + "-host")),
        netns="",
        **kw,  # type: ignore[arg-type]
    )


def ep(c: Container, net: Network, ip: str, aliases: list[str] | None = None) -> Endpoint:
    return Endpoint(
        f"{c.name}-{net.name}", c.id, net.id, "eth0", "hv", ip, 24, "", "", aliases or []
    )


API = ctr("api")
CLI = ctr("cli", links=["api:legacy"])
BOTH = ctr("both")
BB = ctr("bb")
OLD = ctr("old")
VIEW = records.View.build(
    [FRONT, BACK, BRIDGE],
    [API, CLI, BOTH, BB, OLD],
    [
        ep(API, FRONT, "10.1.0.2", ["backend"]),
        ep(CLI, FRONT, "10.1.0.3"),
        ep(BOTH, FRONT, "10.1.0.4"),
        ep(BOTH, BACK, "10.2.0.4"),
        ep(BB, BACK, "10.2.0.5"),
        ep(OLD, BRIDGE, "172.17.0.2"),
        ep(CLI, BRIDGE, "172.17.0.3"),
    ],
)


def look(asker: Container, net: Network, name: str) -> list[str]:
    return VIEW.lookup(asker, net.id, name).addresses


def test_name_alias_short_id_hostname_and_network_suffix() -> None:
    for name in ("api", "backend", API.id[:12], "api-host", "api.front", "API.", "Backend.Front"):
        assert look(CLI, FRONT, name) == ["10.1.0.2"], name


def test_unknown_and_full_id_are_not_local() -> None:
    assert not VIEW.lookup(CLI, FRONT.id, "nope").known
    assert look(CLI, FRONT, API.id) == []


def test_default_bridge_has_no_names() -> None:
    assert look(CLI, FRONT, "old") == []


def test_two_networks_and_shared_address() -> None:
    assert look(BOTH, FRONT, "bb") == ["10.2.0.5"]
    assert look(BOTH, BACK, "api") == ["10.1.0.2"]
    assert look(CLI, FRONT, "both") == ["10.1.0.4"]
    assert look(BB, BACK, "both") == ["10.2.0.4"]
    assert look(BB, BACK, "api") == []
    assert look(CLI, FRONT, "bb") == []


def test_link_alias_on_a_user_network_is_for_the_linking_container_only() -> None:
    assert look(CLI, FRONT, "legacy") == ["10.1.0.2"]
    assert look(BOTH, FRONT, "legacy") == []


def test_asker_by_source_address_on_the_asked_network() -> None:
    assert VIEW.asker(FRONT.id, "10.1.0.3") is CLI
    assert VIEW.asker(BACK.id, "10.1.0.3") is None


def test_reverse_and_ptr_parsing() -> None:
    assert records.ptr_address("2.0.1.10.in-addr.arpa.") == "10.1.0.2"
    assert records.ptr_address("example.com.") is None
    assert VIEW.reverse(CLI, FRONT.id, "10.1.0.2") == "api.front"
    assert VIEW.reverse(CLI, FRONT.id, "10.2.0.5") is None


class Upstream:
    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.asked: list[tuple[str, bool]] = []

    def __call__(self, asker: Container, wire: bytes, tcp: bool) -> bytes | None:
        self.asked.append((asker.name, tcp))
        return self.reply


def ask(
    name: str, qtype: str = "A", source: str = "10.1.0.3", up: Upstream | None = None
) -> DNSRecord:
    wire = bytes(DNSRecord.question(name, qtype).pack())
    out = responder.answer(wire, VIEW, FRONT.id, source, up or Upstream(None))
    assert out is not None
    return DNSRecord.parse(out)


def test_answer_a_records_and_no_data_for_aaaa() -> None:
    reply = ask("backend")
    assert [str(rr.rdata) for rr in reply.rr] == ["10.1.0.2"]
    up = Upstream(None)
    aaaa = ask("backend", "AAAA", up=up)
    assert aaaa.header.rcode == RCODE.NOERROR and not aaaa.rr and up.asked == []


def test_ptr_answer() -> None:
    reply = ask("2.0.1.10.in-addr.arpa", "PTR")
    assert reply.rr[0].rtype == QTYPE.PTR and str(reply.rr[0].rdata) == "api.front."


def test_unknown_names_are_forwarded_and_servfail_without_upstream() -> None:
    canned = DNSRecord.question("outside.example").reply()
    up = Upstream(bytes(canned.pack()))
    ask("outside.example", up=up)
    assert up.asked == [("cli", False)]
    assert ask("outside.example").header.rcode == RCODE.SERVFAIL


def test_unknown_source_is_refused_and_garbage_dropped() -> None:
    assert ask("api", source="10.1.0.99").header.rcode == RCODE.REFUSED
    assert responder.answer(b"\x00\x01junk", VIEW, FRONT.id, "10.1.0.3", Upstream(None)) is None


def test_large_udp_answer_is_truncated() -> None:
    many = [ctr(f"n{i}") for i in range(60)]
    view = records.View.build(
        [FRONT],
        [CLI, *many],
        [ep(CLI, FRONT, "10.1.0.3")]
        + [ep(c, FRONT, f"10.1.1.{i}", ["pool"]) for i, c in enumerate(many)],
    )
    wire = bytes(DNSRecord.question("pool").pack())
    udp = DNSRecord.parse(responder.answer(wire, view, FRONT.id, "10.1.0.3", Upstream(None)) or b"")
    assert udp.header.tc == 1 and not udp.rr
    tcp = DNSRecord.parse(
        responder.answer(wire, view, FRONT.id, "10.1.0.3", Upstream(None), tcp=True) or b""
    )
    assert len(tcp.rr) == 60
