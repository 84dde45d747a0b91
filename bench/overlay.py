"""S9 — two containers on two nodes: Hawser's overlay, Docker's overlay layout, routed.

Three pairs of nodes, each on an underlay of its own (a bridge in its own netns, 198.18.0.x),
a client container on node 1, a server container on node 2, all set up at once:

- **routed** (the floor): the client's and the server's netns hang off their node by a veth
  (10.1.1.2 on n1, 10.1.2.2 on n2) and the nodes route each other's container subnet over
  the underlay. No tunnel, MTU 1500.
- **Docker's overlay layout** (``kernelvx``), built by hand as libnetwork's overlay driver
  builds it: per node, a network sandbox netns holding ``br0`` (the gateway 10.0.0.1/24) and
  a kernel ``vxlan`` device (VNI 256, UDP 4789, learning, proxy, l2miss, l3miss) made in the
  node's netns (its socket stays there) and moved in; the container's veth on ``br0``,
  eth0 MTU 1450, MAC from the IP; for the remote endpoint a permanent neighbour entry and a
  permanent FDB entry ``MAC dev vxlan0 dst NODE``.
- **Hawser**: a daemon per node with ``--cluster-store`` (an etcd on the underlay bridge),
  ``network create -d overlay``, the containers made with ``hawser run``.

Cases: TCP throughput (iperf3, one stream), request/response on 8 persistent connections
(64 B), new connections per second (8 in flight). Runs are interleaved (routed, kernelvx,
Hawser, routed, …) after a warm-up run of each. Proof of path after every run: Hawser's
tunnel counters toward node 2 moved with the load (bytes, packets) and no netfilter rule in
its nodes; the kernel layout's ``vxlan0`` counters moved, its FDB entry points at node 2, and
no tc hook, XDP program or rule anywhere; the routed pair's underlay interface moved, no
VXLAN device and no tc hook, XDP or rule anywhere. The server counts accepted connections
per peer: the client's own address (nothing translates on any of the three paths).

``scale`` (bench/overlay_scale.py) is the control-plane half: 10,000 remote endpoints.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench import paths, proc
from bench.dataplane import CRR_CONC, RR_CONC, Params, peer_problems
from bench.hawser_driver import HawserNode
from bench.paths import Load, _between
from bench.proc import RUN_ID, BenchError, client, run_json, sh, spawn
from bench.results import Row
from bench.selftest import plant, tc_hook
from controller.rules.names import VXLAN_DEVICE
from testbed import etcd as testbed_etcd
from testbed import netns
from testbed.netns import enter
from testbed.procs import wait_tcp
from testbed.topology import Underlay, new_netns

SRV_PORT = 80
IPERF_PORT = 5201
VNI = 256
OVERLAY_MTU = 1450
CLIENT_IP, SERVER_IP = "10.0.0.2", "10.0.0.3"  # the overlays (Hawser's allocator gives these)
ROUTED = {"a": ("10.1.1.2", "10.1.1.1"), "b": ("10.1.2.2", "10.1.2.1")}


def mac_of(ip: str) -> str:
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


@dataclass(frozen=True)
class Case:
    id: str
    label: str
    metric: str


CASES = (
    Case("tcp", "TCP throughput (iperf3, 1 stream)", "gbit_s"),
    Case("rr", f"request/response, {RR_CONC} persistent connections, 64 B", "req_s"),
    Case("crr", f"new connections/s, {CRR_CONC} in flight", "conn_s"),
)


class Pair:
    """A client container on node 1, a server container on node 2, over one underlay."""

    label = ""
    kind = ""

    def __init__(self, loadgen: str) -> None:
        self.loadgen = loadgen
        self.underlay: Underlay | None = None
        self.client_ns = self.server_ns = ""
        self.client_ip = self.server_ip = ""

    def setup(self) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        if self.underlay is not None:
            proc.release(self.underlay.scope)

    def _underlay(self, role: str) -> Underlay:
        self.underlay = Underlay(2, proc.scope(role))
        for node in self.underlay.nodes:
            netns.sysctl(node, "net.ipv4.ip_forward", "1")
        return self.underlay

    def _servers(self) -> None:
        spawn(enter(self.server_ns, *proc.server(self.loadgen, "server", str(SRV_PORT))))
        spawn(enter(self.server_ns, *proc.server("iperf3", "-s", "-p", str(IPERF_PORT))))
        for port in (SRV_PORT, IPERF_PORT):
            wait_tcp(self.client_ns, self.server_ip, port)

    def client(self, *cmd: str) -> list[str]:
        return enter(self.client_ns, *cmd)

    def namespaces(self) -> list[str]:
        assert self.underlay is not None
        return [self.underlay.ul, *self.underlay.nodes, self.client_ns, self.server_ns]

    def probe(self) -> Any:
        raise NotImplementedError

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        raise NotImplementedError


def link_stats(ns: str, dev: str) -> dict[str, int]:
    """tx/rx packets and bytes of a link (``ip -s -j link``)."""
    data = json.loads(sh(["ip", "-n", ns, "-s", "-j", "link", "show", dev]))[0]["stats64"]
    return {f"{d}_{k}": int(data[d][k]) for d in ("tx", "rx") for k in ("packets", "bytes")}


def _moved(load: Load, before: dict[str, int], after: dict[str, int], what: str) -> list[str]:
    problems = _between(f"{what} tx bytes", after["tx_bytes"] - before["tx_bytes"], load.payload)
    return problems + _between(
        f"{what} tx packets", after["tx_packets"] - before["tx_packets"], load.packets
    )


class Routed(Pair):
    label = "routed, no tunnel"
    kind = "routed"

    def setup(self) -> None:
        ul = self._underlay(f"s9rt{RUN_ID[:2]}")
        for i, role in enumerate(("a", "b")):
            node = ul.nodes[i]
            ip, gw = ROUTED[role]
            ns = new_netns(ul.scope, role, proc.GRACE)
            netns.veth(node, f"v{role}", ns, "eth0")
            netns.up(node, f"v{role}", f"{gw}/24")
            netns.up(ns, "eth0", f"{ip}/24")
            netns.ip(ns, "route", "add", "default", "via", gw)
            other = ROUTED["b" if role == "a" else "a"][0].rsplit(".", 1)[0] + ".0/24"
            netns.ip(node, "route", "add", other, "via", ul.address(1 - i))
        self.client_ns, self.server_ns = ul.scope.name("a"), ul.scope.name("b")
        self.client_ip, self.server_ip = ROUTED["a"][0], ROUTED["b"][0]
        self._servers()

    def probe(self) -> Any:
        assert self.underlay is not None
        return link_stats(self.underlay.nodes[0], "ul")

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        assert self.underlay is not None
        problems = _moved(load, before, after, "n1's underlay interface")
        for node in self.underlay.nodes:
            if "vxlan" in sh(["ip", "-n", node, "-d", "link", "show"]):
                problems.append(f"netns {node} has a VXLAN device")
        return problems + paths.untranslated(self.namespaces())


class KernelVxlan(Pair):
    """Docker's overlay layout (libnetwork), built by hand."""

    label = "Docker's overlay layout (bridge + kernel vxlan)"
    kind = "kernelvx"

    def setup(self) -> None:
        ul = self._underlay(f"s9kv{RUN_ID[:2]}")
        ends = {}
        for i, (role, ip) in enumerate((("a", CLIENT_IP), ("b", SERVER_IP))):
            node = ul.nodes[i]
            sandbox = new_netns(ul.scope, f"ov{role}", proc.GRACE)  # libnetwork's 1-<net id>
            netns.bridge(sandbox, "br0", "10.0.0.1/24")
            # made in the node (its UDP socket stays there), then moved into the sandbox
            netns.ip(node, "link", "add", "vxlan0", "mtu", str(OVERLAY_MTU), "type", "vxlan",
                     "id", str(VNI), "dstport", "4789", "learning", "proxy", "l2miss",
                     "l3miss")  # fmt: skip
            netns.ip(node, "link", "set", "vxlan0", "netns", sandbox)
            netns.ip(sandbox, "link", "set", "vxlan0", "master", "br0", "up")
            ctr = new_netns(ul.scope, role, proc.GRACE)
            netns.veth(sandbox, "veth0", ctr, "eth0")
            netns.ip(sandbox, "link", "set", "veth0", "mtu", str(OVERLAY_MTU), "master", "br0",
                     "up")  # fmt: skip
            netns.ip(ctr, "link", "set", "eth0", "address", mac_of(ip), "mtu", str(OVERLAY_MTU))
            netns.up(ctr, "eth0", f"{ip}/24")
            ends[role] = (sandbox, ul.address(i))
        for role, peer, peer_ip in (("a", "b", SERVER_IP), ("b", "a", CLIENT_IP)):
            sandbox, _ = ends[role]
            node_ip = ends[peer][1]
            netns.ip(sandbox, "neigh", "add", peer_ip, "lladdr", mac_of(peer_ip), "dev",
                     "vxlan0", "nud", "permanent")  # fmt: skip
            sh(["bridge", "-n", sandbox, "fdb", "add", mac_of(peer_ip), "dev", "vxlan0",
                "dst", node_ip, "self", "permanent"])  # fmt: skip
        self.sandbox_a = ends["a"][0]
        self.node_b = ends["b"][1]
        self.client_ns, self.server_ns = ul.scope.name("a"), ul.scope.name("b")
        self.client_ip, self.server_ip = CLIENT_IP, SERVER_IP
        self._servers()

    def namespaces(self) -> list[str]:
        assert self.underlay is not None
        return [*super().namespaces(), self.sandbox_a, self.underlay.scope.name("ovb")]

    def probe(self) -> Any:
        return link_stats(self.sandbox_a, "vxlan0")

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        problems = _moved(load, before, after, "vxlan0")
        fdb = sh(["bridge", "-n", self.sandbox_a, "fdb", "show", "dev", "vxlan0"])
        if f"{mac_of(SERVER_IP)} dst {self.node_b}" not in fdb:
            problems.append(f"no FDB entry for {SERVER_IP}'s MAC toward {self.node_b}: {fdb!r}")
        return problems + paths.untranslated(self.namespaces())


class HawserOverlay(Pair):
    label = "Hawser overlay"
    kind = "hawser"

    def setup(self) -> None:
        ul = self._underlay(f"s9hw{RUN_ID[:2]}")
        store = testbed_etcd.on_underlay(ul)
        self.nodes: list[HawserNode] = []
        for i, node in enumerate(ul.nodes):
            hw = HawserNode(node, "ul", f"tb{RUN_ID}s9{i + 1}")
            self.nodes.append(hw)
            hw.start("--cluster-store", store.url(f"/b{RUN_ID}"), "--cluster-advertise", "ul")
        n1, n2 = self.nodes
        made = n1.cli("network", "create", "-d", "overlay", "s9", check=False)
        if made.returncode != 0:
            raise BenchError(f"network create -d overlay: {made.stderr.strip()}")
        for hw, name in ((n1, "cli"), (n2, "srv")):
            res = hw.cli("run", "-d", "--name", name, "--network", "s9", "--", "sleep", "86400",
                         check=False, timeout=120)  # fmt: skip
            if res.returncode != 0:
                raise BenchError(f"hawser run {name}: {res.stderr.strip()}")
            hw.containers.append(name)
        self.client_ns, self.server_ns = n1.netns_path("cli"), n2.netns_path("srv")
        ips = [
            hw.inspect(name)["NetworkSettings"]["Networks"]["s9"]["IPAddress"]
            for hw, name in ((n1, "cli"), (n2, "srv"))
        ]
        self.client_ip, self.server_ip = ips
        self.node_b = ul.address(1)
        self._servers()

    def teardown(self) -> None:
        try:
            for hw in getattr(self, "nodes", []):
                hw.close()
        finally:
            super().teardown()

    def namespaces(self) -> list[str]:
        assert self.underlay is not None
        return [*self.underlay.nodes]

    def probe(self) -> Any:
        n1, n2 = self.nodes
        rows = [r for r in n1.get("/v1/bpf/tunnel") if r["node"] == self.node_b]
        received = {
            (r["direction"], r["reason"]): int(r["packets"]) for r in n2.get("/v1/bpf/stats")
        }
        n1_ns, n2_ns = self.namespaces()
        devices = {"n1": link_stats(n1_ns, VXLAN_DEVICE), "n2": link_stats(n2_ns, VXLAN_DEVICE)}
        return {"tunnel": rows[0] if rows else {}, "n2": received, "device": devices}

    def check(self, load: Load, before: Any, after: Any) -> list[str]:
        if not after["tunnel"]:
            return [f"no tunnel entry toward {self.node_b} on node 1"]
        out: list[str] = []
        for field, least in (("node_tx_bytes", load.payload), ("node_tx_packets", load.packets)):
            moved = int(after["tunnel"][field]) - int(before["tunnel"].get(field, 0))
            out += _between(f"node 1's tunnel {field} toward node 2", moved, least)
        key = ("from_tunnel", "forwarded")
        delivered = after["n2"].get(key, 0) - before["n2"].get(key, 0)
        out += _between("node 2's from-tunnel deliveries", delivered, min(load.packets, 1))
        # the datapath wrote and stripped the VXLAN headers itself: the node's VXLAN device
        # carried none of the load (1 % allowed for what it may carry, e.g. a reassembly)
        for node, field in (("n1", "tx_packets"), ("n2", "rx_packets")):
            moved = after["device"][node][field] - before["device"][node][field]
            out += _between(f"{node}'s {VXLAN_DEVICE} {field}", moved, 0, load.packets // 100)
        for node in self.namespaces():
            out += paths.no_rules(node)
        return out


# ---- measuring -------------------------------------------------------------------------------

# Rounds of each S9 case. The three pairs share the two cores and vary run to run by about
# 10 %, so five rounds leave a median's interval as wide as the differences at stake; nine
# (each pair measured first, second and third in turn) narrow it at a few seconds per round.
S9_MIN_RUNS = 9


def _iperf(v: Pair, seconds: int) -> tuple[float, int]:
    out = sh(
        v.client(*client("iperf3", "-c", v.server_ip, "-p", str(IPERF_PORT),
                         "-t", str(seconds), "-J")),
        timeout=seconds + 30,
    )  # fmt: skip
    data = json.loads(out)
    if "error" in data:
        raise BenchError(f"iperf3 {v.server_ip}: {data['error']}")
    rx = data["end"]["sum_received"]
    return float(rx["bits_per_second"]) / 1e9, int(rx["bytes"])


def _loadgen(v: Pair, mode: str, secs: float, conc: int) -> dict[str, Any]:
    res = run_json(
        v.client(*client(v.loadgen, mode, v.server_ip, str(SRV_PORT), str(secs), str(conc))),
        timeout=secs + 30,
    )
    if res["ops"] == 0:
        raise BenchError(f"loadgen {mode} {v.server_ip}: nothing completed ({res})")
    return res


def _peers(v: Pair) -> dict[str, Any]:
    return run_json(enter(v.server_ns, v.loadgen, "peers", "127.0.0.1", str(SRV_PORT)), 30)


def measure(case: Case, v: Pair, p: Params) -> tuple[dict[str, float], list[str]]:
    """One run of ``case`` on ``v`` with its proof of path: (figures, problems)."""
    before = v.probe()
    problems: list[str] = []
    if case.id == "tcp":
        gbit, nbytes = _iperf(v, p.iperf_seconds)
        values = {"gbit_s": gbit}
        load = Load("S9", "tcp", IPERF_PORT, (1, 3), payload=int(nbytes * 0.99))
    else:
        _peers(v)
        conc = RR_CONC if case.id == "rr" else CRR_CONC
        r = _loadgen(v, case.id, p.seconds, conc)
        ops = int(r["ops"])
        values = {case.metric: float(r["rate"]), "p50_us": r["p50_us"], "p99_us": r["p99_us"]}
        if case.id == "rr":
            hi = RR_CONC + int(r["errors"])
            problems += peer_problems(_peers(v), {v.client_ip}, RR_CONC, hi)
            load = Load("S9", "tcp", SRV_PORT, (RR_CONC, hi), packets=ops, payload=64 * ops)
        else:
            hi = int(r["started"]) + CRR_CONC
            problems += peer_problems(_peers(v), {v.client_ip}, int(ops * 0.98), hi)
            load = Load("S9", "tcp", SRV_PORT, (ops, hi), packets=3 * ops, payload=64 * ops)
    after = v.probe()
    return values, problems + v.check(load, before, after)


# ---- self-test: each pair misrouted once, the check must say so ------------------------------


_NOTHING = object()


@contextlib.contextmanager
def _override(v: Pair, **attrs: Any) -> Iterator[None]:
    """Shadow attributes (methods or values) of one pair for the duration of one run."""
    saved = {name: v.__dict__.get(name, _NOTHING) for name in attrs}
    for name, value in attrs.items():
        setattr(v, name, value)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is _NOTHING:
                delattr(v, name)
            else:
                setattr(v, name, old)


Misroute = tuple[str, str, Callable[[dict[str, Pair]], contextlib.AbstractContextManager[None]]]


def _misroutes() -> list[Misroute]:
    return [
        (
            "hawser",
            "the load sent between the routed pair instead of through the overlay",
            lambda ps: _override(
                ps["hawser"],
                client=ps["routed"].client,
                server_ip=ps["routed"].server_ip,
                server_ns=ps["routed"].server_ns,
                client_ip=ps["routed"].client_ip,
            ),  # fmt: skip
        ),
        (
            "kernelvx",
            "a tc hook on the network sandbox's bridge",
            lambda ps: tc_hook(ps["kernelvx"].sandbox_a, "br0"),  # type: ignore[attr-defined]
        ),
        (
            "routed",
            "a tc hook on node 1's underlay interface",
            lambda ps: tc_hook(ps["routed"].underlay.nodes[0], "ul"),  # type: ignore[union-attr]
        ),
    ]


def selftest(pairs: list[Pair], p: Params) -> tuple[list[str], list[str]]:
    by_kind = {v.kind: v for v in pairs}
    lines, errors = [], []
    for kind, what, wrong in _misroutes():
        if kind not in by_kind or (kind == "hawser" and "routed" not in by_kind):
            continue
        v = by_kind[kind]
        line, error = plant(
            f"S9 {v.label} with {what}",
            lambda wrong=wrong: wrong(by_kind),  # type: ignore[misc]
            lambda v=v: measure(CASES[1], v, p)[1],  # type: ignore[misc]
        )
        lines.append(line)
        if error:
            errors.append(error)
    return lines, errors


# ---- the schedule ------------------------------------------------------------------------------


def run(
    loadgen: str, p: Params, rows: list[Row], errors: list[str], log: Callable[[str], None]
) -> list[str]:
    """Set up the three pairs, self-test the checks, measure interleaved; the self-test lines."""
    pairs: list[Pair] = []
    table: dict[tuple[str, str], Row] = {}
    kinds: tuple[type[Pair], ...] = (Routed, KernelVxlan, HawserOverlay)
    for case in CASES:
        for cls in kinds:
            r = Row("S9", cls.label, cls.kind, 0, case.id, case.label)
            table[(case.id, cls.kind)] = r
            rows.append(r)
    try:
        for cls in kinds:
            v = cls(loadgen)
            log(f"S9: setting up {v.label}")
            try:
                v.setup()
            except Exception as exc:  # noqa: BLE001 - report, measure the others
                errors.append(f"S9 {v.label}: set-up failed: {exc}")
                for case in CASES:
                    table[(case.id, v.kind)].note = f"not measured: set-up failed: {str(exc)[:300]}"
                v.teardown()
                continue
            pairs.append(v)
        lines, bad = selftest(pairs, p)
        errors += bad
        for line in lines:
            log(f"self-test: {line}")
        runs = max(p.runs, S9_MIN_RUNS) if p.runs > 1 else p.runs
        for case in CASES:
            log(f"S9 {case.label}: warm-up, then {runs} interleaved rounds")
            for i, tag in enumerate(["warm-up", *(f"run {i + 1}" for i in range(runs))]):
                for v in pairs[i % len(pairs) :] + pairs[: i % len(pairs)]:  # rotate the order
                    row = table[(case.id, v.kind)]
                    if row.note:
                        continue
                    try:
                        values, problems = measure(case, v, p)
                    except BenchError as exc:
                        row.note = f"failed: {str(exc)[:300]}"
                        errors.append(f"S9 {case.label} {v.label}: {exc}")
                        continue
                    row.problems += [f"{tag}: {x}" for x in problems]
                    for x in problems:
                        log(f"INVALID S9 {case.label} {v.label} {tag}: {x}")
                    if tag != "warm-up":
                        row.add(values)
            for v in pairs:
                row = table[(case.id, v.kind)]
                med = row.median(case.metric)
                log(f"S9 {case.label} {v.label}: {row.note or ('INVALID' if row.invalid else med)}")
        return lines
    finally:
        for v in reversed(pairs):
            v.teardown()
