"""The dataplane schedule: every variant set up at once, runs interleaved A B C D A B C D …

For each round of N (other published ports: 0, 1,000, 10,000) and each scenario, every cell
(case × variant) first runs once as a warm-up (checked, not counted), then the cells take turns
for `runs` rounds, so slow drifts of the machine (other load, kernel clean-up) spread over every
variant instead of landing on one. The references (limit, no NAT) are measured in every round of
N, so each ratio compares runs made side by side. Sustained S3/S8 runs (limit, iptables, Hawser)
follow the short runs of the N=0 round.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.dataplane import N_SWEEP, SCENARIOS, SUSTAINED, Case, Outcome, Params, cases, measure
from bench.proc import BenchError
from bench.results import Row
from bench.variants import Variant

Log = Callable[[str], None]

S5_LABELS = {
    "limit": "limit (direct veth)",
    "nonat": "direct (container IP, Docker's bridge)",
    "iptables": "docker-proxy",
    "hawser": "Hawser sock hooks",
}
S8_LABELS = {"iptables": "iptables MASQUERADE"}
# Sustained runs look for table and port exhaustion: the translating paths and the floor.
SUSTAINED_KINDS = ("limit", "iptables", "hawser")


def label(scenario: str, v: Variant) -> str:
    if scenario == "S5":
        return S5_LABELS[v.kind]
    if scenario == "S8":
        return S8_LABELS.get(v.kind, v.label)
    if scenario in ("S2", "S3"):
        return v.config_label()
    return v.label


class Table:
    """Rows by (scenario, case, kind, N), in the order they were first measured."""

    def __init__(self, rows: list[Row], errors: list[str], log: Log) -> None:
        self.rows = rows
        self.errors = errors
        self.log = log
        self._by_key: dict[tuple[str, str, str, int], Row] = {}

    def row(self, scenario: str, case: Case, v: Variant, n: int) -> Row:
        key = (scenario, case.id, v.kind, n)
        if key not in self._by_key:
            r = Row(scenario, label(scenario, v), v.kind, n, case.id, case.label, case.sustained)
            self._by_key[key] = r
            self.rows.append(r)
        return self._by_key[key]

    def note_all(self, v: Variant, scenarios: list[str], n: int, note: str) -> None:
        for sc in scenarios:
            for case in cases(sc):
                self.row(sc, case, v, n).note = note


def run_cell(
    t: Table, scenario: str, case: Case, v: Variant, n: int, p: Params, tag: str
) -> Outcome | None:
    """One checked run; its numbers are kept only when tag is a run number."""
    row = t.row(scenario, case, v, n)
    if row.note:
        return None  # failed before: no more runs of it
    try:
        out = measure(scenario, v, case, p)
    except BenchError as exc:
        row.note = f"failed: {str(exc)[:300]}"
        t.errors.append(f"{scenario} {case.label} {row.config}: {exc}")
        t.log(f"{scenario} {case.label} {row.config} failed: {exc}")
        return None
    for problem in out.problems:
        row.problems.append(f"{tag}: {problem}")
        t.log(f"INVALID {scenario} {case.label} {row.config} {tag}: {problem}")
    if tag != "warm-up":
        row.add(out.values)
        if out.intervals is not None:
            row.intervals.append(out.intervals)
            row.interval_s = p.interval
    return out


def _summary(row: Row) -> str:
    if row.note:
        return row.note
    state = "INVALID" if row.invalid else "valid"
    figures = ", ".join(
        f"{k}={sorted(v)[len(v) // 2]:.1f}" for k, v in row.values.items() if not k.endswith("_us")
    )
    return f"{state}: {figures}"


def dataplane(
    selected: list[str], params: Params, variants: list[Variant], t: Table, sustained: bool
) -> None:
    scenarios = [s for s in selected if s in SCENARIOS]
    for n in N_SWEEP:
        round_scenarios = [s for s in scenarios if n == 0 or s in ("S2", "S3")]
        if not round_scenarios:
            continue
        active = []
        for v in variants:
            if v.sweeps_n:
                try:
                    t.log(f"{v.label}: {n} other published ports")
                    v.set_extra(n)
                except BenchError as exc:
                    t.note_all(v, round_scenarios, n, f"failed: setting {n} ports: {exc}")
                    t.errors.append(f"{v.label} N={n}: {exc}")
                    continue
            active.append(v)
        for sc in round_scenarios:
            cells = [(case, v) for case in cases(sc) for v in active]
            t.log(
                f"{sc} N={n}: warm-up, then {params.runs} interleaved rounds of {len(cells)} cells"
            )
            for case, v in cells:
                run_cell(t, sc, case, v, n, params, "warm-up")
            for run in range(params.runs):
                for case, v in cells:
                    run_cell(t, sc, case, v, n, params, f"run {run + 1}")
            for case, v in cells:
                row = t.row(sc, case, v, n)
                t.log(f"{sc} {case.label or ''} {row.config}: {_summary(row)}")
            if n == 0 and sustained and sc in SUSTAINED:
                for case in SUSTAINED[sc]:
                    for v in [v for v in active if v.kind in SUSTAINED_KINDS]:
                        t.log(f"{sc} {case.label} {label(sc, v)}: {params.sustained_seconds:.0f} s")
                        run_cell(t, sc, case, v, n, params, "run 1")
                        t.log(f"  {_summary(t.row(sc, case, v, n))}")
