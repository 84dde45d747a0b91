"""Result rows, their medians/spreads and the ratios to the reference configurations."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

# Primary metric(s) per scenario, first one is the headline; True = higher is better.
METRICS: dict[str, list[tuple[str, bool]]] = {
    "S1": [("gbit_s", True)],
    "S2": [("req_s", True), ("p50_us", False), ("p99_us", False)],
    "S3": [("conn_s", True), ("p50_us", False), ("p99_us", False)],
    "S4": [("rx_pps", True), ("delivered", True)],
    "S5": [("gbit_s", True), ("req_s", True), ("p50_us", False), ("p99_us", False)],
    "S6": [
        ("wall_s", False),
        ("processes", False),
        ("extra_mem_mib", False),
        ("iptables_s", False),
        ("proxies_s", False),
        ("proxies_rss_mib", False),
        ("no_ports_s", False),
    ],
    "S7": [
        ("p50_ms", False),
        ("p95_ms", False),
        ("max_ms", False),
        ("cli_run_ms", False),
        ("daemon_rss_mib", False),
        ("daemon_pss_mib", False),
        ("daemon_rss_idle_mib", False),
    ],
    "S8": [("conn_s", True), ("p50_us", False), ("p99_us", False)],
}

TITLES = {
    "S1": "S1 — bulk TCP throughput through a published port (iperf3, 1 stream, ext → container)",
    "S2": "S2 — TCP request/response through a published port, 8 persistent connections, 64 B",
    "S3": "S3 — new TCP connections/s through a published port (connect, 64 B each way, close),"
    " 8 in flight",
    "S4": "S4 — 64-byte UDP datagrams through a published UDP port (rate the server receives)",
    "S5": "S5 — node-local client → 127.0.0.1:published port (direct = the container's address)",
    "S6": "S6 — publishing a port range (1,000 ports in --full, 100 in --quick)",
    "S7": "S7 — control plane: create containers with one published port each",
    "S8": "S8 — masquerade: new outbound TCP connections/s, container → outside host, 8 in flight",
}


@dataclass
class Row:
    scenario: str
    config: str
    kind: str  # nonat | iptables | docker | hawser
    n: int = 0
    values: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""  # "not measured: ..." or "failed: ..."

    def __post_init__(self) -> None:
        self.note = " ".join(self.note.replace("|", "/").split())

    def add(self, sample: dict[str, float]) -> None:
        for k, v in sample.items():
            self.values.setdefault(k, []).append(float(v))

    def median(self, metric: str) -> float | None:
        vals = self.values.get(metric)
        return statistics.median(vals) if vals else None

    def spread(self, metric: str) -> tuple[float, float] | None:
        vals = self.values.get(metric)
        return (min(vals), max(vals)) if vals else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reference(rows: list[Row], row: Row, kind: str) -> Row | None:
    """The row `row` is compared with: the no-NAT/direct row, or iptables/docker at the same N."""
    for r in rows:
        if r.scenario != row.scenario or r.kind != kind or not r.values:
            continue
        if kind == "nonat" or r.n == row.n:
            return r
    return None


def ratio(rows: list[Row], row: Row, metric: str, kind: str) -> float | None:
    ref = reference(rows, row, kind)
    mine = row.median(metric)
    if ref is None or mine is None:
        return None
    base = ref.median(metric)
    return mine / base if base else None


def find(rows: list[Row], scenario: str, kind: str, n: int = 0) -> Row | None:
    for r in rows:
        if r.scenario == scenario and r.kind == kind and r.n == n:
            return r
    return None
