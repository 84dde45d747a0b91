"""The cluster layer against a real etcd (Debian's etcd-server 3.4) started by the fixture.

What is proven here, each refusal next to the same operation succeeding:
- the etcd primitives through etcd3gw: transactions comparing version, mod/create
  revision, value and whole ranges; leases kept alive and expiring; watches from a start
  revision, progress notifications, compaction;
- the watcher resumes by revision after etcd is killed and restarted and after its
  connection is cut: the events are exactly the writes, in order, none missed or doubled;
- allocators: 3 nodes (netns on an underlay, etcd on 198.18.0.254) x 30 concurrent creates
  -> 90 distinct addresses, in several rounds; names unique per network cluster-wide with
  Docker's text and nothing left behind; VNIs from 256 and default /24s from 10.0.0.0/8
  without overlap under concurrent creates; release on removal;
- membership: a dead node's endpoints and addresses go when its lease expires, not before;
  a restart within the lease adopts it; a lost lease is re-joined;
- TLS for real (CA and certificates made with openssl) and one-line errors naming the store.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from controller.cluster import endpoints, membership, networks
from controller.cluster.client import Store
from controller.cluster.endpoints import EndpointSpec
from controller.cluster.membership import Membership
from controller.cluster.networks import NetworkSpec
from controller.cluster.options import store_config
from controller.cluster.txn import KV, Compare, Get, Put
from controller.cluster.watch import Event, Watcher
from controller.errors import (
    Conflict,
    InvalidArgument,
    LeaseLost,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from testbed.etcd import Etcd, Relay, free_port, make_tls, on_underlay, running_etcd
from testbed.netns import call_in
from testbed.procs import Proc, enter
from testbed.shell import sh
from testbed.topology import Underlay
from testbed.wait import until

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    with running_etcd() as e:
        yield e


@pytest.fixture(scope="module")
def fault_etcd() -> Iterator[Etcd]:
    """An etcd of its own for the tests that kill it or compact its history."""
    with running_etcd() as e:
        yield e


def new_store(etcd: Etcd, *opts: str, prefix: str = "") -> Store:
    """A client of ``etcd`` under a key prefix of the test's own (or ``prefix``: the same
    cluster as another client, i.e. another node)."""
    prefix = prefix or "/t" + secrets.token_hex(4)
    return Store(store_config(etcd.url(prefix), list(opts)))


@pytest.fixture
def store(etcd: Etcd) -> Store:
    return new_store(etcd)


def spec(name: str, node: str, lease: int, **kw: object) -> EndpointSpec:
    return EndpointSpec(secrets.token_hex(32), name, node, lease, **kw)  # type: ignore[arg-type]


class Recorder:
    """What a watcher delivered (events and resets), for assertions."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resets: list[tuple[list[KV], int]] = []
        self.lock = threading.Lock()

    def event(self, e: Event) -> None:
        with self.lock:
            self.events.append(e)

    def reset(self, kvs: list[KV], revision: int) -> None:
        with self.lock:
            self.resets.append((kvs, revision))

    def pairs(self) -> list[tuple[str, int]]:
        with self.lock:
            return [(e.key, e.revision) for e in self.events]


# the etcd primitives ---------------------------------------------------------------------
def test_the_fixture_etcd_listens_on_loopback_only_and_no_packaged_service_runs(
    etcd: Etcd,
) -> None:
    listening = etcd.listening()
    assert f"127.0.0.1:{etcd.client_port}" in listening  # positive: ss sees our etcd
    assert listening and all(a.startswith("127.0.0.1:") for a in listening), listening
    # the package's service (user etcd) was stopped/never started by deploy/setup.sh
    assert sh("pgrep", "-x", "-u", "etcd", "etcd", check=False).returncode == 1
    assert sh("pgrep", "-f", str(etcd.data_dir), check=False).stdout.split() == [
        str(etcd.proc.pid)  # type: ignore[union-attr]
    ]


def test_transactions_compare_version_revisions_value_and_ranges(store: Store) -> None:
    k = store.keys.root + "cas"
    store.put(k, "v0")
    compares = {  # (succeeds, fails) for the key as it is now
        "version": lambda kv: (
            Compare.version(k, "EQUAL", kv.version),
            Compare.version(k, "EQUAL", kv.version + 1),
        ),
        "mod": lambda kv: (
            Compare.mod_revision(k, "EQUAL", kv.mod_revision),
            Compare.mod_revision(k, "LESS", kv.mod_revision),
        ),
        "create": lambda kv: (
            Compare.create_revision(k, "EQUAL", kv.create_revision),
            Compare.create_revision(k, "GREATER", kv.create_revision),
        ),
        "value": lambda kv: (
            Compare.value(k, "EQUAL", kv.value),
            Compare.value(k, "NOT_EQUAL", kv.value),
        ),
        "exists": lambda kv: (Compare.exists(k), Compare.absent(k)),
    }
    for n, (what, make) in enumerate(compares.items(), start=1):
        before = store.get(k)
        assert before is not None
        good, bad = make(before)
        lost = store.txn([bad], [Put(k, "never")], [Get(k)])
        assert not lost.succeeded, what
        assert lost.kvs(0)[0] == before and store.get(k) == before  # nothing written
        won = store.txn([good], [Put(k, f"v{n}")])
        after = store.get(k)
        assert won.succeeded and after is not None, what
        assert (after.value, after.version, after.mod_revision) == (
            f"v{n}".encode(),
            before.version + 1,
            won.revision,
        )

    prefix = store.keys.root + "set/"
    assert store.txn([Compare.empty(prefix)], [Put(prefix + "a", "1")]).succeeded
    assert not store.txn([Compare.empty(prefix)], [Put(prefix + "b", "1")]).succeeded
    assert store.get(prefix + "b") is None
    _, seen = store.range(prefix)
    store.put(store.keys.root + "elsewhere", "1")  # outside the range: does not count
    assert store.txn([Compare.unchanged_since(prefix, seen)], [Put(prefix + "c", "1")]).succeeded
    assert not store.txn(
        [Compare.unchanged_since(prefix, seen)], [Put(prefix + "d", "1")]
    ).succeeded  # "c" was created after seen
    assert store.get(prefix + "d") is None


def test_watch_from_a_start_revision_in_order_and_progress_notifications(store: Store) -> None:
    prefix = store.keys.root + "w/"
    written = [(prefix + f"{i}", store.put(prefix + f"{i}", str(i))) for i in range(6)]
    rec = Recorder()
    w = Watcher(store, prefix, rec.event, rec.reset, start_revision=written[3][1]).start()
    try:
        assert until(lambda: len(rec.pairs()) >= 3, 5)
        assert rec.pairs() == written[3:]  # from the start revision on, in order
        before = store.revision()
        assert store.delete(prefix + "0") == 1
        assert until(lambda: len(rec.pairs()) == 4, 5)
        last = rec.events[-1]
        assert (last.type, last.key, last.revision) == ("delete", prefix + "0", before + 1)
        outside = store.put(store.keys.root + "not-watched", "x")
        # the fixture's etcd notifies progress every 500 ms: the watcher learns that nothing
        # of its prefix happened up to `outside` without any event for it
        assert until(lambda: w.stats().revision >= outside, 5), w.stats()
        assert len(rec.pairs()) == 4 and w.stats().lag == 0
        assert rec.resets == [] and w.stats().errors == 0
    finally:
        w.stop()

    # without a start revision: the whole prefix first (list, then watch)
    rec2 = Recorder()
    w2 = Watcher(store, prefix, rec2.event, rec2.reset).start()
    try:
        assert until(lambda: rec2.resets, 5)
        kvs, revision = rec2.resets[0]
        assert [kv.key for kv in kvs] == [k for k, _ in written[1:]] and revision >= outside
        newest = store.put(prefix + "9", "9")
        assert until(lambda: rec2.pairs() == [(prefix + "9", newest)], 5)
    finally:
        w2.stop()


# faults: the watcher resumes -------------------------------------------------------------
def _writer(store: Store, prefix: str, count: int, written: list[tuple[str, int]]) -> None:
    """Create prefix+0000… one by one, retrying through outages; records (key, revision).

    Create-if-absent, so a retry after an answer lost in an outage does not write twice:
    it finds the key and records the revision the first try got."""
    for i in range(count):
        key = f"{prefix}{i:04d}"
        while True:
            try:
                r = store.txn([Compare.absent(key)], [Put(key, str(i))], [Get(key)])
            except StoreError:
                time.sleep(0.02)  # etcd is down: retry pacing, not synchronisation
                continue
            written.append((key, r.revision if r.succeeded else r.kvs(0)[0].mod_revision))
            break


def test_watch_resumes_after_etcd_is_killed_and_restarted(fault_etcd: Etcd) -> None:
    store = new_store(fault_etcd)
    prefix = store.keys.root + "seq/"
    rec = Recorder()
    w = Watcher(store, prefix, rec.event, rec.reset, start_revision=store.revision() + 1)
    w.start()
    written: list[tuple[str, int]] = []
    writer = threading.Thread(target=_writer, args=(store, prefix, 300, written))
    try:
        assert w.wait_connected(5)
        writer.start()
        assert until(lambda: len(written) >= 80, 10)
        fault_etcd.kill()  # mid-stream, as a crash
        assert until(lambda: w.stats().errors > 0, 5)  # the watcher noticed
        assert not w.stats().connected
        fault_etcd.start()
        writer.join(30)
        assert not writer.is_alive() and len(written) == 300
        assert w.wait_for_revision(written[-1][1], 10), w.stats()
        assert rec.pairs() == written  # every write once, in order
        assert w.stats().reconnects >= 1 and rec.resets == []
    finally:
        w.stop()


def test_watch_resumes_after_its_connection_is_cut_and_rereads_after_compaction(
    fault_etcd: Etcd,
) -> None:
    direct = new_store(fault_etcd)
    relay = Relay("127.0.0.1", fault_etcd.client_port)
    via_relay = Store(store_config(f"etcd://127.0.0.1:{relay.port}{direct.config.prefix}"))
    prefix = direct.keys.root + "seq/"
    rec = Recorder()
    w = Watcher(via_relay, prefix, rec.event, rec.reset, start_revision=direct.revision() + 1)
    w.start()
    written: list[tuple[str, int]] = []
    writer = threading.Thread(target=_writer, args=(direct, prefix, 300, written))
    try:
        assert w.wait_connected(5)
        writer.start()
        for cut in range(1, 4):  # cut the stream three times while writes go on
            assert until(lambda c=cut: len(written) >= 60 * c, 10)
            assert relay.cut() >= 1
            assert until(lambda c=cut: w.stats().reconnects == c, 5), w.stats()
        writer.join(30)
        assert w.wait_for_revision(written[-1][1], 10), w.stats()
        assert rec.pairs() == written  # nothing missed or doubled across three cuts
        assert rec.resets == []

        # cut off while history is compacted away: the watcher cannot resume, so it
        # re-reads the prefix and goes on from there
        relay.refusing = True
        relay.cut()
        assert until(lambda: not w.stats().connected, 5)
        direct.delete(prefix + "0000")
        direct.put(prefix + "extra", "x")
        direct.compact(direct.revision())
        errors = w.stats().errors
        relay.refusing = False
        assert until(lambda: rec.resets, 10), w.stats()
        kvs, revision = rec.resets[0]
        now, _ = direct.range(prefix)
        assert [kv.key for kv in kvs] == [kv.key for kv in now]
        assert prefix + "0000" not in {kv.key for kv in kvs} and prefix + "extra" in {
            kv.key for kv in kvs
        }
        assert w.stats().resets == 1 and w.stats().errors >= errors
        after = direct.put(prefix + "after", "1")
        assert until(lambda: rec.pairs()[-1:] == [(prefix + "after", after)], 5)
    finally:
        w.stop()
        relay.close()


# allocators ------------------------------------------------------------------------------
NODE = r"""
import itertools, json, secrets, sys
from concurrent.futures import ThreadPoolExecutor
from controller.cluster import endpoints, membership, networks
from controller.cluster.client import Store
from controller.cluster.options import store_config
url, node, address, net_name = sys.argv[1:5]
store = Store(store_config(url))
txns = itertools.count()  # how many transactions the claims took (lost races retry)
real_txn = store.txn
store.txn = lambda *a, **kw: (next(txns), real_txn(*a, **kw))[1]
m = membership.Membership(store, node, address).start()
net = networks.find(store, net_name)
pool = ThreadPoolExecutor(30)
print("READY", flush=True)
n, recs = 0, []
for line in sys.stdin:
    if line.strip() == "go":
        n += 1
        before = next(txns)
        specs = [endpoints.EndpointSpec(secrets.token_hex(32), f"{node}-{n}-{i}", node, m.lease)
                 for i in range(30)]
        recs = list(pool.map(lambda s: endpoints.create(store, net, s), specs))
        tries = next(txns) - before - 1
        print(json.dumps({"claims": [[r.id, r.ip] for r in recs], "txns": tries}), flush=True)
    elif line.strip() == "release":
        assert all(pool.map(lambda r: endpoints.remove(store, net.id, r.id), recs))
        print("RELEASED", flush=True)
m.stop(revoke=True)
"""


def test_three_nodes_times_30_concurrent_allocations_give_90_distinct_addresses() -> None:
    ul = Underlay(3)
    try:
        etcd = on_underlay(ul)
        url = etcd.url("/t" + secrets.token_hex(4))
        store = Store(store_config(url))
        net = call_in(ul.nodes[0], lambda: networks.create(store, NetworkSpec("ov")))
        nodes = []
        for i, ns in enumerate(ul.nodes):
            p = Proc(enter(ns, sys.executable, "-c", NODE, url, f"n{i + 1}", ul.address(i), "ov"),
                     stdin=True, lines=True, cwd=REPO)  # fmt: skip
            ul.scope.on_close(p.kill, key=p)
            nodes.append(p)
        for p in nodes:
            p.expect("READY", 30)

        def claims() -> dict[str, str]:
            kvs, _ = store.range(store.keys.addresses(net.id))
            return {kv.key.rsplit("/", 1)[1]: kv.text() for kv in kvs}

        txns: list[int] = []
        for _round in range(3):
            for p in nodes:  # all three start at once
                p.stdin.write("go\n")
                p.stdin.flush()
            got = [json.loads(p.line(60)) for p in nodes]
            owners = {ip: ep for per_node in got for ep, ip in per_node["claims"]}
            txns.append(sum(per_node["txns"] for per_node in got))
            assert len(owners) == 90  # 90 distinct addresses
            assert all(IPv4Address(ip) in IPv4Network("10.0.0.0/24") for ip in owners)
            assert "10.0.0.1" not in owners  # the gateway
            assert call_in(ul.nodes[1], claims) == owners  # etcd agrees, owner by owner
            for p in nodes:
                p.stdin.write("release\n")
                p.stdin.flush()
            assert [p.line(60) for p in nodes] == ["RELEASED"] * 3
            assert call_in(ul.nodes[2], claims) == {}  # released on removal
        for p in nodes:
            p.stdin.close()
            assert p.popen.wait(10) == 0
        # the nodes did race: more transactions than addresses, the lost ones retried
        assert all(n >= 90 for n in txns) and max(txns) > 90, txns
    finally:
        ul.close()


def test_endpoint_names_are_unique_per_network_cluster_wide(etcd: Etcd) -> None:
    s1 = new_store(etcd)
    s2 = new_store(etcd, prefix=s1.config.prefix)  # another node, same cluster
    m1 = Membership(s1, "n1", "198.18.0.1").start()
    m2 = Membership(s2, "n2", "198.18.0.2").start()
    try:
        ov1 = networks.create(s1, NetworkSpec("ov1"))
        ov2 = networks.create(s1, NetworkSpec("ov2"))
        web = endpoints.create(s1, ov1, spec("web", "n1", m1.lease, container="abcdef012345",
                                              aliases=("www",)))  # fmt: skip
        assert (web.ip, web.mac) == ("10.0.0.2", "02:42:0a:00:00:02")
        with pytest.raises(Conflict, match="^service endpoint with name web already exists$"):
            endpoints.create(s2, ov1, spec("web", "n2", m2.lease))
        # nothing of the loser was left: one name, one address, one endpoint, all the winner's
        assert [e.id for e in endpoints.list_all(s1, ov1.id)] == [web.id]
        kvs, _ = s1.range(s1.keys.addresses(ov1.id))
        assert [(kv.key.rsplit("/", 1)[1], kv.text()) for kv in kvs] == [("10.0.0.2", web.id)]
        # positive controls: the same name on another network, another name on this one
        assert endpoints.create(s2, ov2, spec("web", "n2", m2.lease)).ip == "10.0.1.2"
        other = endpoints.create(s2, ov1, spec("web2", "n2", m2.lease, ip="10.0.0.77"))
        assert other.ip == "10.0.0.77"
        with pytest.raises(Conflict, match="^Address already in use$"):
            endpoints.create(s1, ov1, spec("web3", "n1", m1.lease, ip="10.0.0.77"))
        with pytest.raises(InvalidArgument, match="does not belong"):
            endpoints.create(s1, ov1, spec("web3", "n1", m1.lease, ip="10.9.9.9"))

        # ten claimants of one name at once on two nodes: exactly one wins
        def claim(i: int) -> str:
            s, m, node = (s1, m1, "n1") if i % 2 else (s2, m2, "n2")
            try:
                return endpoints.create(s, ov1, spec("db", node, m.lease)).ip
            except Conflict as exc:
                return exc.message

        with ThreadPoolExecutor(10) as pool:
            outcomes = list(pool.map(claim, range(10)))
        losers = [o for o in outcomes if o == "service endpoint with name db already exists"]
        assert len(losers) == 9 and len(endpoints.list_all(s1, ov1.id)) == 3

        # removal releases the name and the address: the other node may take both
        assert endpoints.remove(s1, ov1.id, web.id) and not endpoints.remove(s1, ov1.id, web.id)
        again = endpoints.create(s2, ov1, spec("web", "n2", m2.lease))
        assert again.ip == "10.0.0.2" and again.node == "n2"
    finally:
        m1.stop(revoke=True)
        m2.stop(revoke=True)


def test_vnis_and_default_subnets_are_allocated_cluster_wide_without_overlap(
    etcd: Etcd,
) -> None:
    stores = [new_store(etcd)]
    stores += [new_store(etcd, prefix=stores[0].config.prefix) for _ in range(2)]
    s = stores[0]
    fixed = networks.create(s, NetworkSpec("fixed", subnet="10.0.2.0/24", ip_range="10.0.2.128/25"))
    assert (fixed.vni, fixed.subnet, fixed.gateway) == (256, "10.0.2.0/24", "10.0.2.1")
    first = networks.create(s, NetworkSpec("first"))
    assert (first.vni, first.subnet) == (257, "10.0.0.0/24")  # Docker's first global pool

    def make(i: int) -> networks.GlobalNetwork:
        return networks.create(stores[i % 3], NetworkSpec(f"ov{i}"))

    with ThreadPoolExecutor(12) as pool:  # 3 nodes x 4 at once
        made = list(pool.map(make, range(12)))
    vnis = sorted(n.vni for n in made)
    assert vnis == list(range(258, 270))
    subnets = sorted((IPv4Network(n.subnet) for n in made), key=lambda n: int(n.network_address))
    expected = [IPv4Network(f"10.0.{i}.0/24") for i in range(1, 14) if i != 2]
    assert subnets == expected  # the lowest free /24s, none twice, around 10.0.2.0/24

    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        networks.create(s, NetworkSpec("wide", subnet="10.0.0.0/16"))
    assert networks.create(s, NetworkSpec("wide", subnet="10.200.0.0/16")).vni == 270
    with pytest.raises(Conflict, match="^network with name fixed already exists$"):
        networks.create(stores[1], NetworkSpec("fixed"))
    assert networks.find(stores[2], fixed.id[:12]).name == "fixed"
    with pytest.raises(NotFound, match="^network nope not found$"):
        networks.find(s, "nope")

    # removal: refused while an endpoint exists anywhere, then VNI and subnet are free
    m = Membership(stores[1], "n2", "198.18.0.2").start()
    try:
        ep = endpoints.create(stores[1], fixed, spec("c1", "n2", m.lease))
        assert ep.ip == "10.0.2.128"  # from the ip-range
        with pytest.raises(
            Conflict,
            match="^error while removing network: network fixed id .* has active endpoints$",
        ):
            networks.remove(s, "fixed")
        assert endpoints.remove(stores[1], fixed.id, ep.id)
        assert networks.remove(s, "fixed").id == fixed.id
        with pytest.raises(NotFound):
            endpoints.create(stores[1], fixed, spec("c2", "n2", m.lease))
        reuse = networks.create(stores[2], NetworkSpec("reuse"))
        assert (reuse.vni, reuse.subnet) == (256, "10.0.2.0/24")
    finally:
        m.stop(revoke=True)


# membership ------------------------------------------------------------------------------
def test_a_dead_nodes_endpoints_go_when_its_lease_expires_not_before(etcd: Etcd) -> None:
    ttl = 3.0
    sa, sb, obs = (new_store(etcd, prefix=p) for p in ["/t" + secrets.token_hex(4)] * 3)
    a = Membership(sa, "na", "198.18.0.1", ttl=ttl, interval=0.5).start()
    b = Membership(sb, "nb", "198.18.0.2", ttl=ttl, interval=0.5).start()
    rec = Recorder()
    seen_at: dict[str, float] = {}

    def on_event(e: Event) -> None:
        rec.event(e)
        if e.type == "delete":
            seen_at[e.key] = time.time()

    w = Watcher(obs, obs.keys.root, on_event, rec.reset)
    try:
        net = networks.create(sa, NetworkSpec("ov"))
        a1 = endpoints.create(sa, net, spec("a1", "na", a.lease))
        a2 = endpoints.create(sa, net, spec("a2", "na", a.lease))
        b1 = endpoints.create(sb, net, spec("b1", "nb", b.lease))
        w.start()
        assert w.wait_connected(5)
        a.stop()  # a crash: renewals stop, nothing is revoked
        last_renewal = a.stats().last_renewal

        # not before: renewals are late (the node shows as unreachable) yet all is there
        def state(name: str) -> str | None:
            return next((n.state for n in membership.list_nodes(obs) if n.name == name), None)

        assert until(lambda: state("na") == "unreachable", ttl), membership.list_nodes(obs)
        assert obs.lease_ttl(a.lease)[1] == ttl  # granted TTL shown: the lease still runs
        assert {e.id for e in endpoints.list_all(obs, net.id)} == {a1.id, a2.id, b1.id}
        assert endpoints.create(sb, net, spec("b2", "nb", b.lease)).ip == "10.0.0.5"

        # expiry: the node record and every endpoint, name and address of it, at once
        node_key = obs.keys.node("na")
        assert until(lambda: node_key in seen_at, ttl + 3), rec.pairs()
        gone = {obs.keys.endpoint(net.id, a1.id), obs.keys.endpoint(net.id, a2.id),
                obs.keys.address(net.id, a1.ip), obs.keys.address(net.id, a2.ip),
                obs.keys.name(net.id, "a1"), obs.keys.name(net.id, "a2"), node_key}  # fmt: skip
        deletes = [e for e in rec.events if e.type == "delete"]
        assert {e.key for e in deletes} == gone
        assert len({e.revision for e in deletes}) == 1  # one revision
        assert seen_at[node_key] - last_renewal >= ttl - 1.0  # not before the TTL ran out
        assert sa.keepalive(a.lease) == -1 and obs.lease_ttl(a.lease) == (-1, 0)

        # positive control: b renewed all along and keeps its endpoints; a's address is free
        assert state("nb") == "ready" and state("na") is None
        assert obs.lease_ttl(b.lease)[0] > 0 and b.stats().errors == 0
        assert {e.name for e in endpoints.list_all(obs, net.id)} == {"b1", "b2"}
        assert endpoints.create(sb, net, spec("b3", "nb", b.lease)).ip == a1.ip
        nodes = {n.name: n for n in membership.list_nodes(obs)}
        assert nodes["nb"].endpoints == 3 and nodes["nb"].address == "198.18.0.2"
        assert time.time() - nodes["nb"].last_renewal < 2
    finally:
        w.stop()
        b.stop(revoke=True)


def test_a_restart_within_the_lease_adopts_it_and_a_lost_lease_is_rejoined(store: Store) -> None:
    ttl = 2.0
    a = Membership(store, "na", "198.18.0.1", ttl=ttl, interval=0.3).start()
    net = networks.create(store, NetworkSpec("ov"))
    ep = endpoints.create(store, net, spec("a1", "na", a.lease))
    a.stop()  # kill -9
    lost: list[tuple[int, int]] = []
    again = Membership(
        store, "na", "198.18.0.1", ttl=ttl, interval=0.3,
        on_lease_lost=lambda old, new: lost.append((old, new)),
    ).start()  # fmt: skip
    try:
        assert again.lease == a.lease  # adopted, not a new registration
        started = time.monotonic()
        # well past the TTL the endpoint is still there: the adopted lease is renewed
        assert not until(lambda: endpoints.get(store, net.id, ep.id) is None, ttl * 1.5)
        assert time.monotonic() - started >= ttl * 1.5
        with pytest.raises(
            Conflict, match="^node name na is already in the cluster with address 198.18.0.1 "
        ):
            Membership(store, "na", "198.18.0.9").join()

        # the lease lost while running (revoked behind its back): a new one, and the owner
        # is told so it can claim its endpoints again
        store.revoke(again.lease)
        assert endpoints.get(store, net.id, ep.id) is None  # the lease took its keys
        assert until(lambda: lost, 3)
        assert lost[0][0] == a.lease and lost[0][1] == again.lease != a.lease
        assert again.stats().lease_losses == 1
        assert store.get(store.keys.node("na")) is not None
        # a claim under the dead lease is refused whole; under the new one it goes through
        with pytest.raises(LeaseLost, match="requested lease not found"):
            endpoints.create(store, net, spec("a2", "na", a.lease))
        assert endpoints.list_all(store, net.id) == []
        assert store.range(store.keys.addresses(net.id))[0] == []
        assert endpoints.create(store, net, spec("a2", "na", again.lease)).ip == ep.ip
    finally:
        again.stop(revoke=True)
    assert store.get(store.keys.node("na")) is None  # revoke: gone at once


# TLS and errors --------------------------------------------------------------------------
def test_tls_with_client_certificates_for_real(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, "127.0.0.1")
    with running_etcd(tmp_path, tls=tls) as etcd:
        url = etcd.url("/tls")
        store = Store(store_config(url, tls.store_opts()))
        rec = Recorder()
        w = Watcher(store, store.keys.root, rec.event, rec.reset).start()
        try:
            assert until(lambda: rec.resets, 5)
            rev = store.put(store.keys.root + "k", "v")
            assert store.get(store.keys.root + "k").value == b"v"  # type: ignore[union-attr]
            assert until(lambda: rec.pairs() == [(store.keys.root + "k", rev)], 5)
        finally:
            w.stop()
        shown = f"etcd://127.0.0.1:{etcd.client_port}/tls"
        for opts, why in (
            ([f"kv.cacertfile={tls.ca}"],  # no client certificate
             "TLS handshake refused by the store: it requires a client certificate "
             "(kv.certfile, kv.keyfile)"),
            ([f"kv.cacertfile={tls.other_ca},kv.certfile={tls.client_cert},"
              f"kv.keyfile={tls.client_key}"],
             "TLS certificate verification failed (unable to get local issuer certificate)"),
            ([],  # plain HTTP to the TLS port
             "connection closed by the store without an answer (does it expect TLS? "
             "kv.cacertfile, kv.certfile, kv.keyfile)"),
        ):  # fmt: skip
            with pytest.raises(StoreUnavailable) as err:
                Store(store_config(url, opts)).get("/tls/v1/k")
            assert err.value.message == f"cluster store {shown} is unreachable: {why}"
        with pytest.raises(InvalidArgument, match="^cluster store option kv.keyfile: no such file"):
            store_config(url, [f"kv.certfile={tls.client_cert},kv.keyfile=/nonexistent"])


def test_an_unreachable_store_is_one_line_naming_it_and_endpoints_fail_over(etcd: Etcd) -> None:
    dead = free_port()
    url = f"etcd://127.0.0.1:{dead}/t{secrets.token_hex(3)}"
    store = Store(store_config(url))
    message = f"cluster store {url} is unreachable: connection refused"
    for op in (
        store.revision,
        lambda: networks.create(store, NetworkSpec("ov")),
        lambda: Membership(store, "n1", "198.18.0.1").join(),
    ):
        with pytest.raises(StoreUnavailable) as err:
            op()
        assert err.value.message == message and err.value.status == 503
    # positive control: the dead endpoint first, a live one second
    both = Store(store_config(f"etcd://127.0.0.1:{dead},{etcd.address}/t{secrets.token_hex(3)}"))
    assert networks.create(both, NetworkSpec("ov")).vni == 256
    rec = Recorder()
    w = Watcher(both, both.keys.root, rec.event, rec.reset).start()
    try:
        assert until(lambda: rec.resets and len(rec.resets[0][0]) == 4, 5)
    finally:
        w.stop()
