"""The cluster layer's pure parts: options, key layout, transaction JSON, pool choices."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from controller.cluster import pools, txn
from controller.cluster.client import reason
from controller.cluster.keys import Keys, ParsedKey, range_end
from controller.cluster.options import (
    Endpoint,
    parse_advertise,
    parse_store_opts,
    parse_store_url,
    resolve_advertise,
    store_config,
)
from controller.errors import InvalidArgument
from controller.rules.ipam import IpamConfig

# options ---------------------------------------------------------------------------------


def test_store_urls_as_docker_wrote_them() -> None:
    assert parse_store_url("etcd://10.0.0.5:2379") == ((Endpoint("10.0.0.5", 2379),), "/hawser")
    eps, prefix = parse_store_url("etcd://a.example:1,b:2,[fd00::1]:3,c/my/cluster/")
    assert eps == (Endpoint("a.example", 1), Endpoint("b", 2), Endpoint("fd00::1", 3),
                   Endpoint("c", 2379))  # fmt: skip
    assert prefix == "/my/cluster"
    assert str(eps[2]) == "[fd00::1]:3"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("10.0.0.5:2379", "expected etcd://HOST:PORT"),
        ("consul://h:8500", "only etcd:// is supported"),
        ("etcd://", "expected etcd://HOST:PORT"),
        ("etcd://h:0", "bad port '0'"),
        ("etcd://h:99999", "bad port '99999'"),
        ("etcd://h:x", "bad port 'x'"),
        ("etcd://h:1,,", "bad host ''"),
        ("etcd://h:1,h:1", "listed twice"),
        ("etcd://h_1:1", "bad host 'h_1'"),
        ("etcd://[fd00::1:1", "bad address"),
        ("etcd://h:1/a b", "bad key prefix"),
    ],
)
def test_bad_store_urls_are_one_line_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as err:
        parse_store_url(url)
    assert "\n" not in err.value.message


def test_store_options_tls_and_lease_timing(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    for f in (ca, cert, key):
        f.write_text("x")
    cfg = store_config(
        "etcd://h:1", [f"kv.cacertfile={ca},kv.certfile={cert}", f"kv.keyfile={key}"]
    )
    assert (cfg.cacert, cfg.cert, cfg.key, cfg.scheme) == (str(ca), str(cert), str(key), "https")
    plain = store_config("etcd://h:1")
    assert (plain.scheme, plain.ttl, plain.keepalive_interval) == ("http", 20.0, 20.0 / 3)
    timed = store_config("etcd://h:1", ["discovery.ttl=30s,discovery.heartbeat=5"])
    assert (timed.ttl, timed.keepalive_interval) == (30.0, 5.0)
    assert plain.url == "etcd://h:1" and store_config("etcd://h:1/x").url == "etcd://h:1/x"


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (["kv.path=/x"], "unknown cluster store option 'kv.path'"),
        (["kv.certfile"], "expected KEY=VALUE"),
        (["kv.certfile=/nonexistent/c,kv.keyfile=/nonexistent/k"], "kv.certfile: no such file"),
        (["kv.certfile=/etc/hostname"], "must be given together"),
        (["discovery.ttl=1"], "below 2 s"),
        (["discovery.ttl=abc"], "not seconds"),
        (["discovery.ttl=-3"], "must be positive"),
        (["discovery.ttl=10,discovery.heartbeat=10"], "shorter than discovery.ttl"),
    ],
)
def test_bad_store_options(opts: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store_config("etcd://h:1", opts)


def test_parse_store_opts_merges_repeated_flags() -> None:
    assert parse_store_opts(["kv.cacertfile=a", "discovery.ttl=9, kv.keyfile=b,"]) == {
        "kv.cacertfile": "a",
        "discovery.ttl": "9",
        "kv.keyfile": "b",
    }


def test_advertise_is_an_address_or_an_interface() -> None:
    addrs = [("lo", "127.0.0.1", 8), ("ul", "198.18.0.1", 24), ("ul", "198.18.0.7", 24)]
    assert resolve_advertise("198.18.0.3", addrs) == "198.18.0.3"
    assert resolve_advertise("198.18.0.3:2376", addrs) == "198.18.0.3"  # Docker's port: dropped
    assert resolve_advertise("ul", addrs) == "198.18.0.1"  # the interface's first address
    assert resolve_advertise("ul:2376", addrs) == "198.18.0.1"
    with pytest.raises(InvalidArgument, match="^cluster advertise interface eth9 not found"):
        resolve_advertise("eth9", addrs)
    for bad in ("a/b", "ul:70000", "x" * 16, ""):
        with pytest.raises(InvalidArgument, match="cluster-advertise"):
            parse_advertise(bad)


# keys ------------------------------------------------------------------------------------


def test_key_layout_and_parsing_round_trip() -> None:
    k = Keys("/hawser")
    net, ep = "a" * 64, "b" * 64
    built = {
        k.network(net): ParsedKey("networks", (net,)),
        k.network_name("front"): ParsedKey("network-names", ("front",)),
        k.vni(256): ParsedKey("vnis", ("00000256",)),
        k.subnet(IPv4Network("10.0.3.0/24")): ParsedKey("subnets", ("10.0.3.0-24",)),
        k.address(net, "10.0.0.2"): ParsedKey("ipam", (net, "10.0.0.2")),
        k.endpoint(net, ep): ParsedKey("endpoints", (net, ep)),
        k.name(net, "web"): ParsedKey("names", (net, "web")),
        k.node("n1"): ParsedKey("nodes", ("n1",)),
    }
    for key, parsed in built.items():
        assert key.startswith("/hawser/v1/") and k.parse(key) == parsed
    assert k.vni_of("00000256") == 256 and k.subnet_of("10.0.3.0-24") == IPv4Network("10.0.3.0/24")
    assert k.vni(300) > k.vni(299) and k.vni(1000) > k.vni(999)  # keys sort as numbers
    for foreign in ("/hawser/v2/nodes/n1", "/other/v1/nodes/n1", "/hawser/v1/nodes/",
                    "/hawser/v1/ipam/x", "/hawser/v1/unknown/x"):  # fmt: skip
        assert k.parse(foreign) is None
    assert (
        k.endpoints(net) == f"/hawser/v1/endpoints/{net}/"
        and k.endpoints() == "/hawser/v1/endpoints/"
    )


def test_range_end_covers_exactly_the_prefix() -> None:
    end = range_end("/hawser/v1/ipam/")
    assert end == "/hawser/v1/ipam0"
    assert "/hawser/v1/ipam/" <= "/hawser/v1/ipam/zzz" < end
    assert not ("/hawser/v1/ipam/" <= "/hawser/v1/ipam0" < end)


# transactions ----------------------------------------------------------------------------


def test_transaction_json_is_the_gateway_mapping() -> None:
    body = txn.request(
        [txn.Compare.absent("/k"), txn.Compare.value("/k", "EQUAL", "v"),
         txn.Compare.unchanged_since("/p/", 41), txn.Compare.empty("/e/")],
        [txn.Put("/k", "v", lease=7), txn.Delete("/p/", prefix=True)],
        [txn.Get("/k"), txn.Get("/p/", prefix=True, keys_only=True)],
    )  # fmt: skip
    b = txn.b64
    assert body["compare"] == [
        {"key": b("/k"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
        {"key": b("/k"), "target": "VALUE", "result": "EQUAL", "value": b("v")},
        {"key": b("/p/"), "range_end": b("/p0"), "target": "MOD", "result": "LESS",
         "mod_revision": "42"},
        {"key": b("/e/"), "range_end": b("/e0"), "target": "CREATE", "result": "EQUAL",
         "create_revision": "0"},
    ]  # fmt: skip
    assert body["success"] == [
        {"request_put": {"key": b("/k"), "value": b("v"), "lease": "7"}},
        {"request_delete_range": {"key": b("/p/"), "range_end": b("/p0")}},
    ]
    assert body["failure"] == [
        {"request_range": {"key": b("/k")}},
        {"request_range": {"key": b("/p/"), "range_end": b("/p0"), "keys_only": True}},
    ]


def test_transaction_answers_decode_with_protobuf_defaults() -> None:
    answer = {
        "header": {"revision": "12"},
        "responses": [
            {"response_range": {"kvs": [{"key": txn.b64("/k"), "create_revision": "3",
                                         "mod_revision": "9", "version": "2",
                                         "value": txn.b64('{"a": 1}'), "lease": "5"}]}},
            {"response_range": {}},
            {"response_delete_range": {"deleted": "2"}},
            {"response_put": {"header": {}}},
        ],
    }  # fmt: skip
    r = txn.result(answer)
    assert not r.succeeded and r.revision == 12  # "succeeded" left out: false
    kv = r.kvs(0)[0]
    assert (kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == ("/k", 3, 9, 2, 5)
    assert kv.json() == {"a": 1} and r.kvs(1) == () and r.results[2:] == (2, None)
    assert txn.result({"succeeded": True, "header": {"revision": "1"}}).succeeded


# pools -----------------------------------------------------------------------------------


def test_vnis_start_at_256_and_fill_holes() -> None:
    assert pools.lowest_free_vni([]) == 256
    assert pools.lowest_free_vni([256, 257, 259]) == 258
    assert pools.lowest_free_vni([1, 2, 3]) == 256


def test_global_subnets_are_10_0_0_0_8_in_24s_around_taken_ones() -> None:
    assert pools.global_subnet([]) == IPv4Network("10.0.0.0/24")
    taken = [IPv4Network("10.0.0.0/24"), IPv4Network("10.0.1.0/25"), IPv4Network("10.0.4.0/23")]
    assert pools.global_subnet(taken) == IPv4Network("10.0.2.0/24")
    taken += [IPv4Network("10.0.2.0/24"), IPv4Network("10.0.3.0/24")]
    assert pools.global_subnet(taken) == IPv4Network("10.0.6.0/24")
    with pytest.raises(InvalidArgument, match="fully subnetted"):
        pools.global_subnet([IPv4Network("10.0.0.0/8")])


def test_address_candidates_lowest_first_then_spread() -> None:
    cfg = IpamConfig(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"),
                     aux_addresses={"x": IPv4Address("10.0.0.3")})  # fmt: skip
    rng = random.Random(1)
    taken = {IPv4Address("10.0.0.2")}
    assert pools.address_candidate(cfg, taken, 0, rng) == IPv4Address("10.0.0.4")
    later = {pools.address_candidate(cfg, taken, 1, rng) for _ in range(400)}
    lowest = list(pools.free_addresses(cfg, taken))[: pools.SPREAD]
    assert later == set(lowest)  # retries spread over the lowest free addresses, only those
    ranged = IpamConfig(cfg.subnet, cfg.gateway, ip_range=IPv4Network("10.0.0.128/30"))
    assert list(pools.free_addresses(ranged, {IPv4Address("10.0.0.129")})) == [
        IPv4Address("10.0.0.128"), IPv4Address("10.0.0.130"), IPv4Address("10.0.0.131")
    ]  # fmt: skip
    full = IpamConfig(IPv4Network("10.0.0.0/30"), IPv4Address("10.0.0.1"))
    assert pools.address_candidate(full, {IPv4Address("10.0.0.2")}, 0, rng) is None


def test_error_reasons_are_short() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RuntimeError("HTTPConnectionPool(host='x', port=1): Max retries …") from inner
    except RuntimeError as exc:
        assert reason(exc) == "connection refused"
    assert reason(RuntimeError("first line\nsecond")) == "first line"
