"""Dataplane measurements S1-S5 and S8: one function per scenario, one run per call.

Every client is bounded in time (SECONDS + a grace) and talks only to addresses inside this run's
netns. Results are plain dicts of metric -> value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from bench.proc import BenchError, in_ns, run_json, sh
from bench.variants import EXT_IP, MASQ_SERVER_PORT, MASQ_SERVER_PORTS, Variant

RR_CONC = 8  # persistent connections for S2
CRR_CONC = 8  # concurrent connect/request/close loops for S3 and S8
UDP_SIZE = 64  # payload bytes for S4


@dataclass(frozen=True)
class Params:
    seconds: float  # duration of one loadgen run
    iperf_seconds: int  # iperf3 takes whole seconds
    runs: int


def _iperf(argv_prefix: list[str], host: str, port: int, seconds: int) -> float:
    out = sh(
        [*argv_prefix, "iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J"],
        timeout=seconds + 30,
    )
    data = json.loads(out)
    if "error" in data:
        raise BenchError(f"iperf3 {host}:{port}: {data['error']}")
    return float(data["end"]["sum_received"]["bits_per_second"]) / 1e9


def _loadgen(
    v: Variant, argv_prefix: list[str], mode: str, host: str, port: int, secs: float, arg: int
) -> dict[str, float]:
    res = run_json(
        [*argv_prefix, v.loadgen, mode, host, str(port), str(secs), str(arg)], timeout=secs + 30
    )
    if mode in ("rr", "crr") and res["ops"] == 0:
        raise BenchError(f"loadgen {mode} {host}:{port}: no request completed ({res})")
    return res


def s1(v: Variant, p: Params, run: int) -> dict[str, float]:
    """Bulk TCP throughput ext -> published port (iperf3, one stream)."""
    t = v.published_iperf()
    return {"gbit_s": _iperf(in_ns(v.ext), t.host, t.port, p.iperf_seconds)}


def s2(v: Variant, p: Params, run: int) -> dict[str, float]:
    """Request/response on persistent connections ext -> published port."""
    t = v.published()
    r = _loadgen(v, in_ns(v.ext), "rr", t.host, t.port, p.seconds, RR_CONC)
    return {"req_s": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"], "errors": r["errors"]}


def s3(v: Variant, p: Params, run: int) -> dict[str, float]:
    """New connection per request ext -> published port."""
    t = v.published()
    r = _loadgen(v, in_ns(v.ext), "crr", t.host, t.port, p.seconds, CRR_CONC)
    return {
        "conn_s": r["rate"],
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "errors": r["errors"],
    }


def s4(v: Variant, p: Params, run: int) -> dict[str, float]:
    """64-byte UDP datagrams ext -> published UDP port; rate counted by the receiver."""
    t = v.published()
    r = _loadgen(v, in_ns(v.ext), "udp", t.host, t.port, p.seconds, UDP_SIZE)
    return {"rx_pps": r["rate"], "delivered": r["received"] / max(r["sent"], 1)}


def s5(v: Variant, p: Params, run: int) -> dict[str, float]:
    """Node-local client -> 127.0.0.1:published port (direct: -> the container's address)."""
    rr, ip = v.local()
    node = in_ns(v.node)
    gbit = _iperf(node, ip.host, ip.port, p.iperf_seconds)
    r = _loadgen(v, node, "rr", rr.host, rr.port, p.seconds, 1)
    return {"gbit_s": gbit, "req_s": r["rate"], "p50_us": r["p50_us"], "p99_us": r["p99_us"]}


def s8(v: Variant, p: Params, run: int) -> dict[str, float]:
    """New outbound connections per second container -> outside host (masquerade)."""
    port = MASQ_SERVER_PORT + run % MASQ_SERVER_PORTS  # fresh 5-tuples for every run
    r = _loadgen(v, v.in_server(), "crr", EXT_IP, port, p.seconds, CRR_CONC)
    return {
        "conn_s": r["rate"],
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "errors": r["errors"],
    }


Measure = Callable[[Variant, Params, int], dict[str, float]]

SCENARIOS: dict[str, Measure] = {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5, "S8": s8}

# Which (variant kind, N) each scenario measures. S2/S3 sweep N; the others use N=0.
N_SWEEP = (0, 1000, 10000)


def applies(scenario: str, kind: str, n: int) -> bool:
    if scenario in ("S2", "S3"):
        return kind == "nonat" and n == 0 or kind != "nonat"
    return n == 0
