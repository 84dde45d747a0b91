"""Dataplane measurements S1-S5 and S8: one function per scenario, one run per call.

Every client is pinned to the clients' CPU, bounded in time (SECONDS + a grace) and talks only to
addresses inside this run's netns. A scenario returns its figures, the loads it pushed through
the path (checked against the variant's counters by `measure`) and its own problems (the server's
view of the peer addresses).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.paths import Load
from bench.proc import BenchError, client, run_json, sh
from bench.variants import IPERF_PORT, MASQ_SERVER_PORT, PUB_PORT, SRV_PORT, Variant

RR_CONC = 8  # persistent connections for S2
CRR_CONC = 8  # concurrent connect/request/close loops for S3 and S8
UDP_SIZE = 64  # payload bytes for S4
MSG = 64  # loadgen request and reply size


@dataclass(frozen=True)
class Params:
    seconds: float  # duration of one loadgen run
    iperf_seconds: int  # iperf3 takes whole seconds
    runs: int
    sustained_seconds: float  # S3/S8 sustained runs
    interval: float  # their reporting interval


@dataclass(frozen=True)
class Case:
    """A variation of a scenario measured as its own rows (S8's destinations and close modes)."""

    id: str = ""
    label: str = ""
    dests: int = 1
    server_close: bool = False
    sustained: bool = False


S8_CASES = (
    Case("1-rst", "1 destination, client closes with RST", 1, False),
    Case("1-fin", "1 destination, server closes first", 1, True),
    Case("100-fin", "100 destinations, server closes first", 100, True),
)
SUSTAINED = {
    "S3": (Case("sustained", "sustained, client closes with RST", sustained=True),),
    "S8": (
        Case("1-fin-sustained", "sustained, 1 destination, server closes first", 1, True, True),
        Case(
            "100-fin-sustained", "sustained, 100 destinations, server closes first", 100, True, True
        ),
    ),
}


def cases(scenario: str) -> tuple[Case, ...]:
    return S8_CASES if scenario == "S8" else (Case(),)


@dataclass
class Outcome:
    values: dict[str, float]
    loads: list[Load] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    intervals: list[float] | None = None  # sustained: rate per interval


def _iperf(argv_prefix: list[str], host: str, port: int, seconds: int) -> tuple[float, int]:
    """(Gbit/s received, bytes received) of one iperf3 run."""
    out = sh(
        [*argv_prefix, *client("iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J")],
        timeout=seconds + 30,
    )
    data = json.loads(out)
    if "error" in data:
        raise BenchError(f"iperf3 {host}:{port}: {data['error']}")
    rx = data["end"]["sum_received"]
    return float(rx["bits_per_second"]) / 1e9, int(rx["bytes"])


def _loadgen(
    v: Variant,
    argv_prefix: list[str],
    mode: str,
    host: str,
    port: int,
    secs: float,
    arg: int,
    *opts: str,
) -> dict[str, Any]:
    res = run_json(
        [*argv_prefix, *client(v.loadgen, mode, host, str(port), str(secs), str(arg), *opts)],
        timeout=secs + 30,
    )
    if mode in ("rr", "crr") and res["ops"] == 0:
        raise BenchError(f"loadgen {mode} {host}:{port}: no request completed ({res})")
    return res


def peers(v: Variant, argv_prefix: list[str], port: int) -> dict[str, Any]:
    """The server's accepted-connection table since the last call (and zero it)."""
    return run_json([*argv_prefix, v.loadgen, "peers", "127.0.0.1", str(port)], timeout=30)


def peer_problems(table: dict[str, Any], expected: set[str], lo: int, hi: int | None) -> list[str]:
    """The server accepted between lo and hi connections, all from the expected addresses."""
    problems = []
    accepted = int(table["accepted"])
    if accepted < lo or (hi is not None and accepted > hi):
        want = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        problems.append(f"the server accepted {accepted} connections, expected {want}")
    strangers = sorted(set(table["peers"]) - expected)
    if strangers or table.get("overflow"):
        problems.append(
            f"the server saw peer address(es) {strangers[:4]} instead of "
            f"{sorted(expected)[:2]}{'…' if len(expected) > 2 else ''}"
        )
    return problems


def s1(v: Variant, case: Case, p: Params) -> Outcome:
    """Bulk TCP throughput outside -> published port (iperf3, one stream)."""
    t = v.published_iperf()
    gbit, nbytes = _iperf(v.ext_client(), t.host, t.port, p.iperf_seconds)
    load = Load("S1", "tcp", IPERF_PORT, (2, 3), payload=int(nbytes * 0.99))
    return Outcome({"gbit_s": gbit}, [load])


def s2(v: Variant, case: Case, p: Params) -> Outcome:
    """Request/response on persistent connections outside -> published port."""
    t = v.published()
    peers(v, v.in_server(), SRV_PORT)
    r = _loadgen(v, v.ext_client(), "rr", t.host, t.port, p.seconds, RR_CONC)
    hi = RR_CONC + int(r["errors"])
    problems = peer_problems(peers(v, v.in_server(), SRV_PORT), v.client_peers(False), RR_CONC, hi)
    load = Load("S2", "tcp", PUB_PORT, (RR_CONC, hi), packets=int(r["ops"]), ops=int(r["ops"]))
    values = {"req_s": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"]}
    return Outcome(values, [load], problems)


def _crr(
    v: Variant, case: Case, p: Params, argv: list[str], host: str, port: int, *opts: str
) -> tuple[dict[str, Any], Outcome]:
    secs = p.sustained_seconds if case.sustained else p.seconds
    more = list(opts)
    if case.sustained:
        more += ["-i", str(p.interval)]
    if case.dests > 1:
        more += ["-d", str(case.dests)]
    if case.server_close:
        more.append("-c")
    r = _loadgen(v, argv, "crr", host, port, secs, CRR_CONC, *more)
    values = {
        "conn_s": r["rate"],
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "errors": r["errors"],
    }
    out = Outcome(values)
    if case.sustained:
        counts = [float(c) for c in r["intervals"]]
        out.intervals = [c / float(r["interval_s"]) for c in counts]
        if out.intervals:
            values["first_s"] = out.intervals[0]
            values["last_s"] = out.intervals[-1]
            values["min_s"] = min(out.intervals)
    return r, out


def s3(v: Variant, case: Case, p: Params) -> Outcome:
    """New connection per request outside -> published port, from 32 source addresses."""
    t = v.published()
    peers(v, v.in_server(), SRV_PORT)
    r, out = _crr(v, case, p, v.ext_client(), t.host, t.port, "-s", v.sources())
    ops, hi = int(r["ops"]), int(r["started"]) + CRR_CONC
    out.problems = peer_problems(
        peers(v, v.in_server(), SRV_PORT), v.client_peers(True), int(ops * 0.98), hi
    )
    tail = int(r["intervals"][-1]) if case.sustained and r["intervals"] else None
    out.loads = [
        Load("S3", "tcp", PUB_PORT, (int(ops * 0.98), hi), packets=3 * ops, ops=ops, tail_ops=tail)
    ]
    return out


def s4(v: Variant, case: Case, p: Params) -> Outcome:
    """64-byte UDP datagrams outside -> published UDP port; rate counted by the receiver."""
    t = v.published()
    r = _loadgen(v, v.ext_client(), "udp", t.host, t.port, p.seconds, UDP_SIZE)
    received = int(r["received"])
    load = Load("S4", "udp", PUB_PORT, (1, 2), packets=received)
    return Outcome({"rx_pps": r["rate"], "delivered": received / max(int(r["sent"]), 1)}, [load])


def s5(v: Variant, case: Case, p: Params) -> Outcome:
    """Node-local client -> 127.0.0.1:published port (direct: -> the container's address)."""
    rr, ip = v.local()
    gbit, nbytes = _iperf(v.on_node(), ip.host, ip.port, p.iperf_seconds)
    r = _loadgen(v, v.on_node(), "rr", rr.host, rr.port, p.seconds, 1)
    ops = int(r["ops"])
    loads = [
        Load("S5", "tcp", IPERF_PORT, (2, 3), payload=int(nbytes * 0.99)),
        Load("S5", "tcp", PUB_PORT, (1, 1 + int(r["errors"])), payload=2 * MSG * ops, ops=ops),
    ]
    values = {"gbit_s": gbit, "req_s": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"]}
    return Outcome(values, loads)


def s8(v: Variant, case: Case, p: Params) -> Outcome:
    """New outbound connections per second container -> outside host(s) (masquerade)."""
    port = v.next_masq_port()  # fresh 5-tuples for every run
    peers(v, v.remote(), MASQ_SERVER_PORT)
    r, out = _crr(v, case, p, v.in_container(), v.destination(case.dests > 1), port)
    ops, hi = int(r["ops"]), int(r["started"]) + CRR_CONC
    out.problems = peer_problems(
        peers(v, v.remote(), MASQ_SERVER_PORT), v.masq_peers(), int(ops * 0.98), hi
    )
    tail = int(r["intervals"][-1]) if case.sustained and r["intervals"] else None
    out.loads = [Load("S8", "tcp", port, (int(ops * 0.98), hi), ops=ops, tail_ops=tail)]
    return out


Measure = Callable[[Variant, Case, Params], Outcome]

SCENARIOS: dict[str, Measure] = {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5, "S8": s8}
N_SWEEP = (0, 1000, 10000)  # other published ports for S2/S3


def measure(scenario: str, v: Variant, case: Case, p: Params) -> Outcome:
    """One run with its proof of path: counters before, the load, counters after, the checks."""
    before = v.probe(scenario)
    out = SCENARIOS[scenario](v, case, p)
    after = v.probe(scenario)
    for load in out.loads:
        out.problems += v.check(load, before, after)
        out.values.update(load.seen)
    if scenario in ("S3", "S8"):
        out.values.update(v.drops(before, after))
    return out
