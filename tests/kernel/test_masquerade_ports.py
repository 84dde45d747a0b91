"""Masquerade source ports, the way the kernel's NAT picks them.

- the container's own source port is kept whenever the translated tuple is unique;
- a tuple held by a live flow (another container's, or a socket of the node itself) is never
  taken: the flow gets another port from the pool, and both keep working;
- a tuple whose TCP flow has closed is taken by a new SYN;
- short connections do not exhaust the pool (the old collapse: closed flows held their port
  for 10 s in a pool of 4,536, and every refused SYN cost the client a 1 s retransmission);
- when the pool is really exhausted, the refusal is a counted drop.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from controller.datapath import Datapath
from testbed import servers
from testbed.datapath import EXT_IP, NODE_IP, DatapathTopology, close_datapath
from testbed.procs import PY, Proc, netns_exec
from testbed.topology import Container
from testbed.wait import wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

POOL = (61000, 61001)  # a two-port pool makes exhaustion and remapping visible
NAT_TABLE = 64  # reservations in hawser_nat for the reclaim test

# One UDP or TCP exchange from a fixed source port; prints what the server saw and the echo.
FROM_PORT = textwrap.dedent(
    r"""
    import json, socket, sys
    proto, host, port, sport, payload = sys.argv[1:6]
    hold = len(sys.argv) > 6  # keep a TCP connection open until stdin closes
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sport)))
    s.settimeout(3)
    out = {}
    try:
        if proto == "tcp":
            s.connect((host, int(port)))
            s.sendall(payload.encode())
            out["reply"] = json.loads(s.recv(65536).split(b"\n")[0])
        else:
            s.sendto(payload.encode(), (host, int(port)))
            out["reply"] = json.loads(s.recv(65536))
    except OSError as e:
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out), flush=True)
    if hold and "reply" in out:
        sys.stdin.read()
        s.sendall(b"again")
        print(json.dumps(json.loads(s.recv(65536).split(b"\n")[0])), flush=True)
    s.close()
    """
)

# n sequential connections to a close-first server; counts the ones that got their answer.
SHORT_CONNECTIONS = textwrap.dedent(
    r"""
    import json, socket, sys
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ok = failed = 0
    for _ in range(n):
        try:
            c = socket.create_connection((host, port), timeout=2)
            c.sendall(b"GET"); data = c.recv(10); c.close()
            ok += data == b"ok"
        except OSError:
            failed += 1
    print(json.dumps({"ok": ok, "failed": failed}))
    """
)

# One short connection to a close-first server from each of the source ports first..last.
FROM_PORTS = textwrap.dedent(
    r"""
    import json, socket, sys
    host, port, first, last, timeout = sys.argv[1:6]
    ok = []
    for sport in range(int(first), int(last) + 1):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", sport)); s.settimeout(float(timeout))
        try:
            s.connect((host, int(port))); s.sendall(b"GET")
            if s.recv(10) == b"ok":
                ok.append(sport)
        except OSError:
            pass
        s.close()
    print(json.dumps(ok))
    """
)


@pytest.fixture
def world() -> Iterator[tuple[DatapathTopology, Datapath]]:
    topo = DatapathTopology()
    ipr = dp = None
    try:
        dp, ipr = topo.start_datapath(snat_ports=POOL)
        topo.server(topo.ext, "udp", 9000)
        topo.server(topo.ext, "tcp", 9001)  # concurrent connections, JSON echo
        yield topo, dp
    finally:
        close_datapath(dp, ipr)
        topo.close()


def _container(topo: DatapathTopology, dp: Datapath, last_octet: int) -> Container:
    c = topo.add_container(f"172.20.0.{last_octet}", 1)
    dp.attach_endpoint(c.ifindex, c.ip, c.mac, 1)
    return c


def _held_connection(ns: str, sport: int, payload: str) -> Proc:
    """A TCP connection from ns:sport to the echo server, open until its stdin closes (then
    one more exchange): its first line is the first echo."""
    argv = [*netns_exec(ns), PY, "-c", FROM_PORT, "tcp", EXT_IP, "9001", str(sport), payload]
    return Proc([*argv, "hold"], stdin=True, lines=True)


def _exchange(ns: str, proto: str, port: int, sport: int, payload: str) -> dict[str, Any]:
    out = subprocess.run(
        [*netns_exec(ns), PY, "-c", FROM_PORT, proto, EXT_IP, str(port), str(sport), payload],
        capture_output=True, text=True, timeout=20, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def _drops(dp: Datapath) -> dict[str, int]:
    return {s["reason"]: s["packets"] for s in dp.stats() if s["direction"] == "from_container"}


def test_the_container_source_port_is_kept_when_the_tuple_is_unique(
    world: tuple[DatapathTopology, Datapath],
) -> None:
    topo, dp = world
    c = _container(topo, dp, 2)
    for proto, port in (("udp", 9000), ("tcp", 9001)):
        r = _exchange(c.name, proto, port, 40001, f"keep-{proto}")
        assert r["reply"]["data"] == f"keep-{proto}"
        assert r["reply"]["peer"] == [NODE_IP, 40001]  # outside the pool: kept, as the kernel does


def test_a_live_tuple_is_never_shared_and_both_flows_work(
    world: tuple[DatapathTopology, Datapath],
) -> None:
    """Two containers, same source port, same server: the second is remapped into the pool."""
    topo, dp = world
    a, b = _container(topo, dp, 2), _container(topo, dp, 3)
    holder = _held_connection(a.name, 40002, "from-a")
    try:
        first = json.loads(holder.line())
        assert first["reply"] == {"peer": [NODE_IP, 40002], "data": "from-a"}
        r = _exchange(b.name, "tcp", 9001, 40002, "from-b")
        assert r["reply"]["data"] == "from-b"
        assert r["reply"]["peer"][0] == NODE_IP
        assert r["reply"]["peer"][1] in POOL  # not a's live tuple
        holder.stdin.close()  # a's connection still answers a, on its own port
        again = json.loads(holder.line())
        assert again == {"peer": [NODE_IP, 40002], "data": "again"}
    finally:
        holder.kill()


def test_a_tuple_held_by_a_node_socket_is_not_taken(
    world: tuple[DatapathTopology, Datapath],
) -> None:
    """The node's own UDP and TCP sockets keep their replies; the container is remapped."""
    topo, dp = world
    c = _container(topo, dp, 2)
    udp = topo.socket_in(topo.node, socket.SOCK_DGRAM)
    tcp = topo.socket_in(topo.node, socket.SOCK_STREAM)
    try:
        udp.settimeout(3)
        udp.bind((NODE_IP, 40003))
        udp.sendto(b"node-udp", (EXT_IP, 9000))
        assert json.loads(udp.recv(4096))["data"] == "node-udp"
        tcp.settimeout(3)
        tcp.bind((NODE_IP, 40004))
        tcp.connect((EXT_IP, 9001))
        tcp.sendall(b"node-tcp")
        assert json.loads(tcp.recv(4096).split(b"\n")[0])["data"] == "node-tcp"

        for proto, port, sport in (("udp", 9000, 40003), ("tcp", 9001, 40004)):
            r = _exchange(c.name, proto, port, sport, f"ctr-{proto}")
            assert r["reply"]["data"] == f"ctr-{proto}"
            assert r["reply"]["peer"][1] in POOL, r  # the node's tuple was left alone

        udp.sendto(b"node-udp-2", (EXT_IP, 9000))
        assert json.loads(udp.recv(4096))["data"] == "node-udp-2"
        tcp.sendall(b"node-tcp-2")
        assert json.loads(tcp.recv(4096).split(b"\n")[0])["data"] == "node-tcp-2"
    finally:
        udp.close()
        tcp.close()


def test_a_closed_tcp_tuple_is_taken_by_a_new_syn(world: tuple[DatapathTopology, Datapath]) -> None:
    topo, dp = world
    a, b = _container(topo, dp, 2), _container(topo, dp, 3)
    r = _exchange(a.name, "tcp", 9001, 40005, "first")  # client closes after the echo
    assert r["reply"]["peer"] == [NODE_IP, 40005]
    wait_for(
        lambda: [n["state"] for n in dp.nat() if int(n["dport"]) == 40005] == ["closed"],
        5,
        "the NAT entry of port 40005 to be closed",
    )
    r = _exchange(b.name, "tcp", 9001, 40005, "second")
    assert r["reply"] == {"peer": [NODE_IP, 40005], "data": "second"}  # same tuple, reused
    owners = [n["to"] for n in dp.nat() if int(n["dport"]) == 40005]
    assert owners == [f"{b.ip}:40005"]
    assert dp.counters()["snat_closed_reused"] == 1


def test_short_connections_never_run_out_of_ports(world: tuple[DatapathTopology, Datapath]) -> None:
    """More short connections than the old pool held, server closing first: all answered."""
    topo, dp = world
    c = _container(topo, dp, 2)
    topo.server(topo.ext, "tcp", 9002, servers.CLOSE_FIRST)
    n = 6000  # the old pool had 4,536 ports, each held 10 s after its flow closed
    out = subprocess.run(
        [*netns_exec(c.name), PY, "-c", SHORT_CONNECTIONS, EXT_IP, "9002", str(n)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {"ok": n, "failed": 0}
    events = dp.counters()
    assert events["snat_new"] == n  # every connection one masqueraded flow, counted once
    assert events["snat_port_kept"] == n  # the server's TIME_WAIT never forced another port
    drops = _drops(dp)
    assert drops["snat_no_port"] == 0 and drops["ct_full"] == 0
    assert drops["forwarded"] >= 5 * n  # SYN, request, ACK, FIN, ACK per connection went through


def test_an_exhausted_pool_is_a_counted_drop(world: tuple[DatapathTopology, Datapath]) -> None:
    """Six containers, one source port, one server: one keeps it, two get the pool, three fail."""
    topo, dp = world
    ctrs = [_container(topo, dp, 10 + i) for i in range(6)]
    results = [_exchange(c.name, "udp", 9000, 40006, f"c{i}") for i, c in enumerate(ctrs)]
    answered = [r["reply"]["peer"][1] for r in results if "reply" in r]
    assert sorted(answered) == [40006, *POOL]
    assert sum("error" in r for r in results) == 3
    assert _drops(dp)["snat_no_port"] == 3
    assert sorted(int(n["dport"]) for n in dp.nat()) == [40006, *POOL]


def test_a_node_socket_opened_later_on_a_held_tuple_is_moved_to_another_port(
    world: tuple[DatapathTopology, Datapath],
) -> None:
    """The node's kernel cannot see a container's mapping and may pick the same port for its
    own socket; to-uplink moves that node flow to another port, and both flows keep their
    replies. Control: a node socket on a free tuple keeps its port."""
    topo, dp = world
    c = _container(topo, dp, 2)
    holder = _held_connection(c.name, 40020, "from-c")
    sockets: list[socket.socket] = []
    try:
        assert json.loads(holder.line())["reply"]["peer"] == [NODE_IP, 40020]
        udp_first = _exchange(c.name, "udp", 9000, 40021, "ctr-udp")
        assert udp_first["reply"]["peer"] == [NODE_IP, 40021]

        def node_exchange(kind: int, sport: int, port: int, payload: bytes) -> list[Any]:
            s = topo.socket_in(topo.node, kind)
            sockets.append(s)
            s.settimeout(3)
            s.bind((NODE_IP, sport))
            if kind == socket.SOCK_STREAM:
                s.connect((EXT_IP, port))
                s.sendall(payload)
                reply = json.loads(s.recv(4096).split(b"\n")[0])
            else:
                s.sendto(payload, (EXT_IP, port))
                reply = json.loads(s.recv(4096))
            assert reply["data"] == payload.decode()
            return list(reply["peer"])

        assert node_exchange(socket.SOCK_STREAM, 40022, 9001, b"free") == [NODE_IP, 40022]
        moved_tcp = node_exchange(socket.SOCK_STREAM, 40020, 9001, b"node-tcp")
        moved_udp = node_exchange(socket.SOCK_DGRAM, 40021, 9000, b"node-udp")
        assert moved_tcp[1] in POOL and moved_udp[1] in POOL
        assert dp.counters()["node_moved"] == 2
        holder.stdin.close()  # the container's flow still gets its own replies
        assert json.loads(holder.line()) == {"peer": [NODE_IP, 40020], "data": "again"}
        stats = {(s["direction"], s["reason"]): s["packets"] for s in dp.stats()}
        assert stats[("to_uplink", "forwarded")] >= 2  # the moved flows' packets
    finally:
        for s in sockets:
            s.close()
        holder.kill()


@pytest.fixture
def small_nat() -> Iterator[tuple[DatapathTopology, Datapath]]:
    topo = DatapathTopology()
    ipr = dp = None
    try:
        dp, ipr = topo.start_datapath(map_sizes={"nat": NAT_TABLE})
        topo.server(topo.ext, "tcp", 9001)
        topo.server(topo.ext, "tcp", 9002, servers.CLOSE_FIRST)
        yield topo, dp
    finally:
        close_datapath(dp, ipr)
        topo.close()


def _from_ports(ns: str, first: int, last: int, timeout: float = 3) -> list[int]:
    out = subprocess.run(
        [*netns_exec(ns), PY, "-c", FROM_PORTS, EXT_IP, "9002", str(first), str(last), str(timeout)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return list(json.loads(out.stdout))


def _closed_reservations(dp: Datapath) -> set[int]:
    return {int(n["dport"]) for n in dp.nat() if n["state"] == "closed"}


def _expire_closed(dp: Datapath) -> None:
    """Move every closed reservation, and its place in the datapath's queue, 10 s back."""
    back = 11 * 10**9
    nat = dp._t("hawser_nat")
    for key, value in list(nat.items()):
        if value.state == 3:  # HW_CT_CLOSED
            value.seen_ns -= back
            nat[key] = value
    queue = dp._t("hawser_nat_closed")
    for idx, slot in list(queue.items()):
        if slot.at:
            slot.at -= back
            queue[idx] = slot


def test_the_datapath_frees_expired_reservations_of_closed_flows(
    small_nat: tuple[DatapathTopology, Datapath],
) -> None:
    """Flows to ever new tuples never reuse a closed reservation: the datapath itself frees the
    expired ones as new flows come (not the controller's periodic gc), and never a live one.
    Control: before they expire, a full table is a counted drop."""
    topo, dp = small_nat
    c = _container(topo, dp, 2)
    live = _held_connection(c.name, 42000, "live")
    try:
        assert json.loads(live.line())["reply"] == {"peer": [NODE_IP, 42000], "data": "live"}
        first = list(range(41000, 41000 + NAT_TABLE - 1))  # the table's other 63 entries
        assert _from_ports(c.name, first[0], first[-1]) == first
        wait_for(lambda: _closed_reservations(dp) == set(first), 5, "63 closed reservations")
        full = _drops(dp)["ct_full"]
        assert _from_ports(c.name, 41063, 41063, timeout=0.5) == []  # not expired: no room
        assert _drops(dp)["ct_full"] > full
        assert dp.counters()["snat_reclaimed"] == 0

        _expire_closed(dp)
        second = list(range(41100, 41100 + NAT_TABLE - 1))
        assert _from_ports(c.name, second[0], second[-1]) == second
        assert dp.counters()["snat_reclaimed"] == NAT_TABLE - 1
        wait_for(lambda: _closed_reservations(dp) == set(second), 5, "the new flows' reservations")
        live.stdin.close()  # the live flow's reservation was never taken
        assert json.loads(live.line()) == {"peer": [NODE_IP, 42000], "data": "again"}
    finally:
        live.kill()
