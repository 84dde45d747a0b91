"""Result rows: the runs of one configuration, their validity, medians, intervals and ratios."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import stats

# Metrics per scenario, the first one is the headline.
METRICS: dict[str, list[str]] = {
    "S1": ["gbit_s"],
    "S2": ["req_s", "p50_us", "p99_us"],
    "S3": ["conn_s", "p50_us", "p99_us", "errors", "drops", "ct_full"],
    "S4": ["rx_pps", "delivered"],
    "S5": ["gbit_s", "req_s", "p50_us", "p99_us"],
    "S6": [
        "wall_s",
        "processes",
        "extra_mem_mib",
        "iptables_s",
        "proxies_s",
        "proxies_rss_mib",
        "no_ports_s",
        "conflict_s",
    ],
    "S7": [
        "p50_ms",
        "p95_ms",
        "max_ms",
        "cli_run_ms",
        "daemon_rss_mib",
        "daemon_pss_mib",
        "daemon_rss_idle_mib",
    ],
    "S8": [
        "conn_s",
        "p50_us",
        "p99_us",
        "errors",
        "snat_entries",
        "snat_no_port",
        "ct_full",
        "drops",
    ],
    "S9": ["gbit_s", "req_s", "conn_s", "p50_us", "p99_us"],
}
#: S9's cases each have their own headline (the scale case is the control plane's)
CASE_METRICS = {"tcp": "gbit_s", "rr": "req_s", "crr": "conn_s", "scale": "program_s"}
S9_SCALE_METRICS = [
    "program_s", "sync_s", "dns_s", "stream_s", "write_s", "withdraw_s", "idle_cpu_pct",
]  # fmt: skip

TITLES = {
    "S1": "S1 — bulk TCP throughput through a published port (iperf3, 1 stream, outside →"
    " container)",
    "S2": "S2 — TCP request/response through a published port, 8 persistent connections, 64 B",
    "S3": "S3 — new TCP connections/s through a published port (connect, 64 B each way, close),"
    " 8 in flight, from 32 client addresses",
    "S4": "S4 — 64-byte UDP datagrams through a published UDP port (rate the server receives)",
    "S5": "S5 — node-local client → 127.0.0.1:published port (direct = the container's address)",
    "S6": "S6 — publishing a port range, and a range that conflicts with a port in use",
    "S7": "S7 — control plane: create containers with one published port each",
    "S8": "S8 — masquerade: new outbound TCP connections/s, container → outside host, 8 in flight",
    "S9": "S9 — across nodes: client container on node 1, server container on node 2 "
    "(overlay network)",
}

# The references a row is divided by, per scenario ("docker" for S6).
REFERENCES = {
    "S1": ("limit", "nonat", "iptables"),
    "S2": ("limit", "nonat", "iptables"),
    "S3": ("limit", "nonat", "iptables"),
    "S4": ("limit", "nonat", "iptables"),
    "S5": ("limit", "nonat", "iptables"),
    "S8": ("limit", "nonat", "iptables"),
    "S6": ("docker",),
    "S7": (),
    "S9": ("routed", "kernelvx"),
}
REF_NAMES = {
    "limit": "limit",
    "nonat": "no-NAT",
    "iptables": "iptables",
    "docker": "docker",
    "routed": "routed",
    "kernelvx": "Docker's overlay",
}
S5_REF_NAMES = {"limit": "limit", "nonat": "direct", "iptables": "docker-proxy"}


@dataclass
class Row:
    scenario: str
    config: str
    kind: str  # limit | nonat | iptables | docker | hawser
    n: int = 0
    case: str = ""  # Case.id
    case_label: str = ""
    sustained: bool = False
    values: dict[str, list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # failed path checks: INVALID
    note: str = ""  # "not measured: ..." or "failed: ..."
    intervals: list[list[float]] = field(default_factory=list)  # sustained: rates per interval
    interval_s: float = 0.0

    def __post_init__(self) -> None:
        self.note = " ".join(self.note.replace("|", "/").split())

    def add(self, sample: dict[str, float]) -> None:
        for k, v in sample.items():
            self.values.setdefault(k, []).append(float(v))

    @property
    def invalid(self) -> bool:
        return bool(self.problems)

    @property
    def measured(self) -> bool:
        """Has runs and every run proved its path."""
        return bool(self.values) and not self.problems and not self.note

    @property
    def runs(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    def median(self, metric: str) -> float | None:
        vals = self.values.get(metric)
        return statistics.median(vals) if vals and self.measured else None

    def ci(self, metric: str) -> tuple[float, float, float] | None:
        vals = self.values.get(metric)
        return stats.median_ci(vals) if vals and self.measured else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


def headline(row: Row) -> str:
    """The metric a row is compared by."""
    if row.scenario == "S9":
        return CASE_METRICS[row.case]
    return METRICS[row.scenario][0]


def reference(rows: list[Row], row: Row, kind: str) -> Row | None:
    """The row `row` is compared with: same scenario, case and round (N) of another kind."""
    for r in rows:
        if (
            r.scenario == row.scenario
            and r.kind == kind
            and r.case == row.case
            and r.sustained == row.sustained
            and r.n == row.n
        ):
            return r
    return None


def ratio(rows: list[Row], row: Row, metric: str, kind: str) -> tuple[float, float, float] | None:
    """Median ratio with its 95 % interval, or None when either side has no valid runs."""
    ref = reference(rows, row, kind)
    if ref is None or not ref.measured or not row.measured:
        return None
    return stats.ratio_ci(row.values.get(metric, []), ref.values.get(metric, []))


def find(rows: list[Row], scenario: str, kind: str, n: int = 0, case: str = "") -> Row | None:
    for r in rows:
        if r.scenario == scenario and r.kind == kind and r.n == n and r.case == case:
            return r
    return None
