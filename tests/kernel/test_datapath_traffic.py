"""The eBPF datapath with real packets: ext <-> node <-> containers (testbed.datapath).

One topology and one compiled Datapath for the module (compiling takes ~1.5 s);
tests that change shared state restore it in a finally block.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

from controller.datapath import Datapath, DatapathConfig, PortMapping  # noqa: E402
from controller.errors import PrerequisiteMissing  # noqa: E402
from testbed import netns  # noqa: E402
from testbed.datapath import (  # noqa: E402
    EXT_IP,
    NODE_IP,
    DatapathTopology,
    close_datapath,
    start_datapath,
)
from testbed.topology import Container  # noqa: E402

GW1, GW2, GW3 = "172.20.0.1", "172.21.0.1", "172.22.0.1"
FAIL_TIMEOUT = 1.5


@dataclass
class Env:
    topo: DatapathTopology
    dp: Datapath
    ipr: Any
    cookie: int
    uplink: int
    c0: Container  # net 1 (icc on, masquerade): backend of the published ports
    c1: Container  # net 1: client
    c2: Container  # net 2 (icc off)
    c3: Container  # net 2
    c4: Container  # net 3 (internal)

    def set_net(self, key: int, **kw: Any) -> None:
        base = {
            1: ("172.20.0.0/16", GW1, "hw0", dict(icc=True, masquerade=True, internal=False)),
            2: ("172.21.0.0/16", GW2, "hw1", dict(icc=False, masquerade=True, internal=False)),
            3: ("172.22.0.0/16", GW3, "hw2", dict(icc=True, masquerade=False, internal=True)),
        }[key]
        flags = {**base[3], **kw}
        self.dp.set_network(
            key, base[0], base[1], netns.mac(self.topo.node, base[2]), snat_ip=None, **flags
        )

    def wire(self) -> None:
        """What the controller does at (re)start: fill maps and attach programs."""
        self.dp.attach_uplink(self.uplink, NODE_IP)
        self.dp.set_node_addresses([NODE_IP])
        for key in (1, 2, 3):
            self.set_net(key)
        for c in (self.c0, self.c1, self.c2, self.c3, self.c4):
            self.dp.attach_endpoint(c.ifindex, c.ip, c.mac, c.network)
        self.dp.add_ports(
            PORTS(self.c0) + [PortMapping("tcp", "0.0.0.0", 8090, self.c1.ip, 90, self.c1.ifindex)]
        )


def PORTS(c0: Container) -> list[PortMapping]:
    return [
        PortMapping("tcp", "0.0.0.0", 8080, c0.ip, 80, c0.ifindex),
        PortMapping("udp", "0.0.0.0", 8080, c0.ip, 80, c0.ifindex),
        PortMapping("tcp", "127.0.0.1", 8081, c0.ip, 80, c0.ifindex),
        PortMapping("udp", "127.0.0.1", 8081, c0.ip, 80, c0.ifindex),
    ]


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    topo = DatapathTopology()
    ipr = None
    dp = None
    try:
        dp, ipr, cookie = start_datapath(topo.node, topo.prefix)
        e = Env(
            topo, dp, ipr, cookie, netns.ifindex(topo.node, "up0"),
            topo.add_container("172.20.0.2", 1), topo.add_container("172.20.0.3", 1),
            topo.add_container("172.21.0.2", 2), topo.add_container("172.21.0.3", 2),
            topo.add_container("172.22.0.2", 3),
        )  # fmt: skip
        e.wire()
        for c in (e.c0, e.c2, e.c3):
            for proto in ("tcp", "udp"):
                topo.server(c.name, proto, 80)
                topo.server(c.name, proto, 81)
        topo.server(e.c1.name, "tcp", 90)
        for proto in ("tcp", "udp"):
            topo.server(topo.ext, proto, 9000)
        yield e
        dp = e.dp  # the restart test replaces it
    finally:
        close_datapath(dp, ipr)
        topo.close()


def snapshot(dp: Datapath) -> dict[tuple[str, str], int]:
    return {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}


def moved(before: dict[tuple[str, str], int], dp: Datapath, direction: str, reason: str) -> int:
    return snapshot(dp)[(direction, reason)] - before[(direction, reason)]


def ok(r: dict[str, Any], payload: str = "hello") -> dict[str, Any]:
    assert "error" not in r, r
    assert r["reply"]["data"] == payload
    return r


def fails(r: dict[str, Any]) -> None:
    assert "error" in r, f"expected no connectivity, got {r}"


def from_node(env: Env, proto: str, ip: str, port: int) -> dict[str, Any]:
    """Positive control for a refusal: the server behind ``ip:port`` answers the node."""
    return ok(env.topo.client(env.topo.node, proto, ip, port, nsenter=True))


# ---- published ports from outside -------------------------------------------------
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_ext_to_published_port_keeps_client_ip(env: Env, proto: str) -> None:
    before = snapshot(env.dp)
    r = ok(env.topo.client(env.topo.ext, proto, NODE_IP, 8080, f"ext-{proto}"), f"ext-{proto}")
    assert r["reply"]["peer"][0] == EXT_IP  # the server saw the real client
    if proto == "tcp":
        assert r["peername"] == [NODE_IP, 8080]
        assert r["reply"]["peer"][1] == r["sockname"][1]
    else:
        assert r["from"] == [NODE_IP, 8080]  # reply translated back
    assert moved(before, env.dp, "from_uplink", "forwarded") >= 1
    assert moved(before, env.dp, "from_container", "forwarded") >= 1
    stats = {(s["proto"], s["host_port"]): s for s in env.dp.port_stats()}
    assert stats[(proto, 8080)]["packets"] >= 1 and stats[(proto, 8080)]["conns"] >= 1


def test_loopback_bound_port_unreachable_from_ext(env: Env) -> None:
    ok(env.topo.client(env.topo.ext, "tcp", NODE_IP, 8080))  # same backend, published widely
    fails(env.topo.client(env.topo.ext, "tcp", NODE_IP, 8081, timeout=FAIL_TIMEOUT))
    fails(env.topo.client(env.topo.ext, "udp", NODE_IP, 8081, timeout=FAIL_TIMEOUT))
    # ... and from the node only via 127.0.0.1, not via a node address
    ok(env.topo.client(env.topo.node, "tcp", "127.0.0.1", 8081, nsenter=True))
    fails(env.topo.client(env.topo.node, "tcp", NODE_IP, 8081, nsenter=True, timeout=FAIL_TIMEOUT))


# ---- host-local clients (sock hooks) -----------------------------------------------
@pytest.mark.parametrize("proto", ["tcp", "udp"])
@pytest.mark.parametrize("dial", ["127.0.0.1", NODE_IP, GW1])
def test_node_local_to_published_port(env: Env, proto: str, dial: str) -> None:
    before = snapshot(env.dp)
    r = ok(env.topo.client(env.topo.node, proto, dial, 8080, "local", nsenter=True), "local")
    if proto == "tcp":
        assert r["peername"] == [dial, 8080]  # getpeername shows what was dialled
    else:
        assert r["from"] == [dial, 8080]  # recvfrom shows what was dialled
    assert r["reply"]["peer"][0] == GW1  # the node reaches the container from its bridge address
    assert moved(before, env.dp, "sock", "forwarded") >= 1


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_sock_hooks_only_act_in_the_node_netns(env: Env, proto: str) -> None:
    """ext dials 127.0.0.1:8080 with a listener of its own there and a route to the backend:
    a hook that rewrote ext's socket too would reach c0 and succeed, and be seen doing so."""
    t = env.topo
    netns.ip(t.ext, "route", "add", "172.20.0.0/16", "via", NODE_IP)
    env.set_net(1, masquerade=False)  # c0's replies to ext go back as they are
    own = t.server(t.ext, proto, 8080)
    try:
        # a rewritten socket in ext would get through: ext reaches the backend directly
        assert ok(t.client(t.ext, proto, env.c0.ip, 80))["reply"]["peer"][0] == EXT_IP
        # in the node the hooks rewrite this very dial
        before = snapshot(env.dp)
        assert (
            ok(t.client(t.node, proto, "127.0.0.1", 8080, nsenter=True))["reply"]["peer"][0] == GW1
        )
        assert moved(before, env.dp, "sock", "forwarded") >= 1
        # in ext they leave it alone: ext's own listener answers, no hook counted it
        before = snapshot(env.dp)
        r = ok(t.client(t.ext, proto, "127.0.0.1", 8080))
        assert r["reply"]["peer"][0] == "127.0.0.1"
        assert moved(before, env.dp, "sock", "forwarded") == 0
    finally:
        t.scope.close_now(own)
        env.set_net(1)
        netns.ip(t.ext, "route", "del", "172.20.0.0/16", check=False)


# ---- hairpin -----------------------------------------------------------------------
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_hairpin_from_other_container(env: Env, proto: str) -> None:
    r = ok(env.topo.client(env.c1.name, proto, NODE_IP, 8080))
    assert r["reply"]["peer"][0] == env.c1.ip  # source kept, like Docker without the proxy
    if proto == "udp":
        assert r["from"] == [NODE_IP, 8080]


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_hairpin_to_itself(env: Env, proto: str) -> None:
    r = ok(env.topo.client(env.c0.name, proto, NODE_IP, 8080))
    assert r["reply"]["peer"][0] == GW1  # SNAT'd to the gateway
    if proto == "tcp":
        assert r["peername"] == [NODE_IP, 8080]
    else:
        assert r["from"] == [NODE_IP, 8080]


def test_hairpin_across_networks_via_published_port(env: Env) -> None:
    r = ok(env.topo.client(env.c2.name, "tcp", NODE_IP, 8080))
    assert r["reply"]["peer"][0] == env.c2.ip


# ---- masquerade ---------------------------------------------------------------------
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_masquerade(env: Env, proto: str) -> None:
    r = ok(env.topo.client(env.c0.name, proto, EXT_IP, 9000))
    assert r["reply"]["peer"][0] == NODE_IP  # ext sees the uplink address
    if proto == "udp":
        assert r["from"] == [EXT_IP, 9000]
    nat = [n for n in env.dp.nat() if n["proto"] == proto and n["src"] == EXT_IP]
    assert any(n["to"].startswith(env.c0.ip + ":") for n in nat)


def test_masquerade_icmp_echo(env: Env) -> None:
    # ext has no route to 172.20/16: a reply can only come back through the SNAT
    assert env.topo.ping(env.c0.name, EXT_IP)
    assert any(n["proto"] == "icmp" and n["to"].startswith(env.c0.ip) for n in env.dp.nat())


def test_masquerade_many_flows_get_distinct_ports(env: Env) -> None:
    socks = []
    try:
        for _ in range(20):
            s = env.topo.socket_in(env.c1.name)
            s.settimeout(3)
            s.connect((EXT_IP, 9000))
            socks.append(s)
        seen = {
            n["dport"]
            for n in env.dp.nat()
            if n["proto"] == "tcp" and n["to"].startswith(env.c1.ip + ":")
        }
        assert len(seen) >= 20
    finally:
        for s in socks:
            s.close()


def test_no_masquerade_keeps_container_ip(env: Env) -> None:
    env.set_net(1, masquerade=False)
    netns.ip(env.topo.ext, "route", "add", "172.20.0.0/16", "via", NODE_IP)
    try:
        r = ok(env.topo.client(env.c0.name, "tcp", EXT_IP, 9000))
        assert r["reply"]["peer"][0] == env.c0.ip
    finally:
        netns.ip(env.topo.ext, "route", "del", "172.20.0.0/16", check=False)
        env.set_net(1)


def test_internal_network_nothing_leaves(env: Env) -> None:
    for proto in ("tcp", "udp"):  # the servers answer a container that may leave
        ok(env.topo.client(env.c0.name, proto, EXT_IP, 9000))
    ok(env.topo.client(env.c1.name, "tcp", env.c0.ip, 80))
    before = snapshot(env.dp)
    fails(env.topo.client(env.c4.name, "tcp", EXT_IP, 9000, timeout=FAIL_TIMEOUT))
    fails(env.topo.client(env.c4.name, "udp", EXT_IP, 9000, timeout=FAIL_TIMEOUT))
    assert not env.topo.ping(env.c4.name, EXT_IP)
    assert env.topo.ping(env.c0.name, EXT_IP)  # ext answers pings from a network that may leave
    fails(env.topo.client(env.c4.name, "tcp", env.c0.ip, 80, timeout=FAIL_TIMEOUT))
    assert moved(before, env.dp, "from_container", "internal") >= 4


# ---- icc and isolation ----------------------------------------------------------------
def test_icc_on_allows_same_network(env: Env) -> None:
    r = ok(env.topo.client(env.c1.name, "tcp", env.c0.ip, 80))
    assert r["reply"]["peer"][0] == env.c1.ip


def test_icc_off_blocks_both_directions(env: Env) -> None:
    before = snapshot(env.dp)
    fails(env.topo.client(env.c2.name, "tcp", env.c3.ip, 80, timeout=FAIL_TIMEOUT))
    fails(env.topo.client(env.c3.name, "tcp", env.c2.ip, 80, timeout=FAIL_TIMEOUT))
    fails(env.topo.client(env.c2.name, "udp", env.c3.ip, 80, timeout=FAIL_TIMEOUT))
    assert moved(before, env.dp, "from_container", "icc") >= 3
    assert env.topo.ping(env.c2.name, GW2)  # the gateway (node) stays reachable
    for proto, ip in (("tcp", env.c3.ip), ("tcp", env.c2.ip), ("udp", env.c3.ip)):
        from_node(env, proto, ip, 80)  # the refused servers are up


def test_icc_allow_entry_opens_exactly_one_flow(env: Env) -> None:
    env.dp.allow(env.c2.ip, env.c3.ip, "tcp", 80)
    try:
        assert env.dp.policy() == [
            {"src": env.c2.ip, "dst": env.c3.ip, "proto": "tcp", "dport": 80}
        ]
        r = ok(env.topo.client(env.c2.name, "tcp", env.c3.ip, 80))  # replies pass through CT
        assert r["reply"]["peer"][0] == env.c2.ip
        fails(env.topo.client(env.c2.name, "tcp", env.c3.ip, 81, timeout=FAIL_TIMEOUT))
        fails(env.topo.client(env.c2.name, "udp", env.c3.ip, 80, timeout=FAIL_TIMEOUT))
        fails(env.topo.client(env.c3.name, "tcp", env.c2.ip, 80, timeout=FAIL_TIMEOUT))
        from_node(env, "tcp", env.c3.ip, 81)
        from_node(env, "udp", env.c3.ip, 80)
        from_node(env, "tcp", env.c2.ip, 80)
    finally:
        env.dp.disallow(env.c2.ip, env.c3.ip, "tcp", 80)
    fails(env.topo.client(env.c2.name, "tcp", env.c3.ip, 80, timeout=FAIL_TIMEOUT))


def test_networks_isolated(env: Env) -> None:
    before = snapshot(env.dp)
    fails(env.topo.client(env.c1.name, "tcp", env.c2.ip, 80, timeout=FAIL_TIMEOUT))
    fails(env.topo.client(env.c2.name, "tcp", env.c0.ip, 80, timeout=FAIL_TIMEOUT))
    assert not env.topo.ping(env.c1.name, env.c3.ip)
    assert moved(before, env.dp, "from_container", "isolation") >= 3
    from_node(env, "tcp", env.c2.ip, 80)
    from_node(env, "tcp", env.c0.ip, 80)
    assert env.topo.ping(env.c1.name, env.c0.ip)  # same network: fine
    assert env.topo.ping(env.topo.node, env.c3.ip)


def test_drop_events_are_reported(env: Env) -> None:
    events: list[dict[str, Any]] = []
    env.dp.open_events(events.append)
    fails(env.topo.client(env.c1.name, "udp", env.c2.ip, 80, timeout=0.5))
    deadline = time.monotonic() + 3
    while not any(e["reason"] == "isolation" for e in events) and time.monotonic() < deadline:
        env.dp.poll_events(200)
    ev = next(e for e in events if e["reason"] == "isolation")
    assert ev["verdict"] == "drop" and ev["src"] == env.c1.ip and ev["dst"] == env.c2.ip
    assert ev["dport"] == 80 and ev["direction"] == "from_container"


# ---- checksums -------------------------------------------------------------------------
def test_checksums_with_tx_offload_off(env: Env) -> None:
    t = env.topo
    devs = [(env.c0.name, "eth0"), (env.c1.name, "eth0"), (t.ext, "eth0"), (t.node, "up0")]
    for ns, dev in devs:
        t.offload(ns, dev, False)
    try:
        for proto in ("tcp", "udp"):
            payload = "x" * 3000 if proto == "tcp" else "y" * 1000
            r = ok(t.client(t.ext, proto, NODE_IP, 8080, payload), payload)
            assert r["reply"]["peer"][0] == EXT_IP
            r = ok(t.client(env.c0.name, proto, EXT_IP, 9000, payload), payload)
            assert r["reply"]["peer"][0] == NODE_IP
            ok(t.client(env.c1.name, proto, NODE_IP, 8080, payload), payload)
            ok(t.client(env.c0.name, proto, NODE_IP, 8080, payload), payload)
        assert t.ping(env.c0.name, EXT_IP)
    finally:
        for ns, dev in devs:
            t.offload(ns, dev, True)


# ---- scale, inspection, restart ----------------------------------------------------------
def test_thousand_port_range(env: Env) -> None:
    ports = [
        PortMapping("tcp", "0.0.0.0", 20000 + i, env.c0.ip, 80, env.c0.ifindex) for i in range(1000)
    ]
    start = time.perf_counter()
    env.dp.add_ports(ports)
    elapsed = time.perf_counter() - start
    try:
        print(f"add_ports(1000) took {elapsed * 1000:.1f} ms")
        assert elapsed < 0.5
        assert len(env.dp.ports()) >= 1000
        r = ok(env.topo.client(env.topo.ext, "tcp", NODE_IP, 20577))
        assert r["peername"] == [NODE_IP, 20577]
    finally:
        start = time.perf_counter()
        env.dp.delete_ports(ports)
        print(f"delete_ports(1000) took {(time.perf_counter() - start) * 1000:.1f} ms")
    fails(env.topo.client(env.topo.ext, "tcp", NODE_IP, 20577, timeout=FAIL_TIMEOUT))


def test_inspection(env: Env) -> None:
    maps = {m["name"]: m for m in env.dp.maps()}
    assert maps["hawser_ct"]["type"] == "lru_hash" and maps["hawser_ct"]["entries"] > 0
    assert all(os.path.exists(m["pin_path"]) for m in maps.values())
    assert {n["key"]: n["icc"] for n in env.dp.networks()} == {1: True, 2: False, 3: True}
    assert {e["ip"] for e in env.dp.endpoints()} >= {env.c0.ip, env.c4.ip}
    eps = {s["ifindex"]: s for s in env.dp.endpoint_stats()}
    assert eps[env.c0.ifindex]["tx_packets"] > 0 and eps[env.c0.ifindex]["rx_packets"] > 0
    assert any(c["type"] == "dnat" for c in env.dp.ct())
    assert env.dp.tc_programs(env.uplink) == ["hawser_from_uplink"]


def _entries_of(dp: Datapath, port: int) -> list[dict[str, Any]]:
    return [
        c for c in dp.ct() if EXT_IP in (c["src"], c["dst"]) and port in (c["sport"], c["dport"])
    ]


def test_gc_removes_expired_entries_only(env: Env) -> None:
    old = ok(env.topo.client(env.topo.ext, "udp", NODE_IP, 8080, "old"), "old")
    old_port = old["reply"]["peer"][1]  # ext's source port, kept by the DNAT
    assert _entries_of(env.dp, old_port)
    aged = 0
    for name in ("hawser_ct", "hawser_nat"):  # as if every flow so far was last seen at boot
        table = env.dp._t(name)
        for key, value in list(table.items()):
            value.seen_ns = 1
            table[key] = value
            aged += 1
    new = ok(env.topo.client(env.topo.ext, "udp", NODE_IP, 8080, "new"), "new")
    new_port = new["reply"]["peer"][1]
    assert new_port != old_port and _entries_of(env.dp, new_port)
    removed = env.dp.gc()
    assert 1 <= removed <= aged
    assert _entries_of(env.dp, old_port) == []  # expired: gone
    assert _entries_of(env.dp, new_port)  # fresh: kept


def test_flush_ct_for(env: Env) -> None:
    ok(env.topo.client(env.topo.ext, "udp", NODE_IP, 8080))
    assert any(c["src"] == env.c0.ip for c in env.dp.ct())
    env.dp.flush_ct_for(env.c0.ip)
    assert not any(env.c0.ip in (c["src"], c["dst"]) for c in env.dp.ct())


def test_prerequisites_reported(env: Env) -> None:
    with pytest.raises(PrerequisiteMissing, match="bpffs is not mounted"):
        Datapath.check_prerequisites(
            DatapathConfig(node="x", bpffs_root=__import__("pathlib").Path("/tmp"))
        )
    with pytest.raises(PrerequisiteMissing, match="cgroup v2"):
        Datapath.check_prerequisites(
            DatapathConfig(node="x", cgroup_path=__import__("pathlib").Path("/sys/fs/cgroup/cpu"))
        )


def test_restart_keeps_established_connection(env: Env) -> None:
    s = env.topo.socket_in(env.topo.ext)
    s.settimeout(3)
    try:
        s.connect((NODE_IP, 8090))
        s.sendall(b"one")
        assert b'"data": "one"' in s.recv(4096)
        env.dp.close()  # daemon gone: programs on tc and pinned maps stay
        s.sendall(b"two")
        assert b'"data": "two"' in s.recv(4096)
        dp = Datapath(DatapathConfig(node=env.topo.prefix), env.ipr)
        start = time.perf_counter()
        dp.start(env.cookie)
        took = time.perf_counter() - start
        print(f"restart: start() took {took:.2f} s (compile {dp.compile_seconds:.2f} s)")
        env.dp = dp
        assert any(p["host_port"] == 8090 for p in dp.ports())  # pinned state is back
        env.wire()  # reconcile: programs replaced atomically
        s.sendall(b"three")
        assert b'"data": "three"' in s.recv(4096)
        assert any(c["dport"] == s.getsockname()[1] for c in dp.ct() if c["type"] == "dnat")
        ok(env.topo.client(env.topo.node, "tcp", "127.0.0.1", 8080, nsenter=True))
    finally:
        s.close()
