"""Ratios, their mechanisms, target verdicts and the generated analysis of BENCHMARKS.md.

Nothing here is hand-written about a particular run: every sentence is built from the rows, so
the analysis cannot drift from the figures. A ratio whose whole interval is above 1.0 is shown
only with a named mechanism (MECHANISMS); without one it is withdrawn. A ratio whose interval
contains 1.0 is shown as level ("≈"), never as a gain.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import stats
from bench.results import REF_NAMES, S5_REF_NAMES, Row, find, headline, ratio, reference

PATH_CLASS = {"S1": "published", "S2": "published", "S3": "published", "S4": "published"}
PATH_CLASS.update({"S5": "local", "S8": "masq", "S9": "overlay"})

_BYPASS = (
    "Hawser's from-uplink tc program translates the packet and hands it straight to the "
    "container's veth peer (bpf_redirect_peer): it skips the node's IP forwarding, bridge and "
    "netfilter hooks, which Docker's routed path walks"
)
_MASQ = (
    "Hawser's from-container tc program translates the packet and sends it to the uplink after a "
    "FIB lookup (bpf_redirect); replies are reversed at the uplink and handed to the container's "
    "veth peer (bpf_redirect_peer): both ways skip the node's bridge, IP forwarding and netfilter "
    "hooks, which the routed path walks"
)
_LIMIT = "The limit is one veth between the two netns: no node, no bridge, no forwarding"
_PROXY = (
    "docker-proxy copies every byte through a user-space process, with a second TCP connection "
    "per flow; the socket hooks rewrite connect() once and the data goes straight to the container"
)

# (row kind, reference kind, path class) -> why the row may beat the reference.
MECHANISMS: dict[tuple[str, str, str], str] = {
    ("hawser", "nonat", "published"): _BYPASS,
    ("hawser", "iptables", "published"): _BYPASS
    + "; the iptables path also walks the nat DOCKER chain and makes a conntrack entry per flow",
    ("hawser", "nonat", "masq"): _MASQ,
    ("hawser", "iptables", "masq"): _MASQ + "; MASQUERADE also makes a conntrack entry per flow",
    ("hawser", "iptables", "local"): _PROXY,
    ("nonat", "iptables", "local"): _PROXY.split(";")[0]
    + "; the direct connection goes straight to the container",
    ("nonat", "iptables", "published"): (
        "Docker's routed path walks no DNAT rule and makes no conntrack entry per flow"
    ),
    ("nonat", "iptables", "masq"): "The no-NAT path has no MASQUERADE and no conntrack entry",
    ("limit", "nonat", "published"): _LIMIT,
    ("limit", "iptables", "published"): _LIMIT,
    ("limit", "nonat", "masq"): _LIMIT,
    ("limit", "iptables", "masq"): _LIMIT,
    ("limit", "nonat", "local"): _LIMIT,
    ("limit", "iptables", "local"): _LIMIT + "; docker-proxy copies every byte in user space",
    ("hawser", "kernelvx", "overlay"): (
        "Hawser's from-container tc program writes the VXLAN headers itself (bpf/lib/vxlan.h) "
        "and puts the packet on the uplink, and on the other node from-uplink strips them and "
        "hands the inner packet to the container's veth peer (bpf_redirect_peer): no bridge "
        "on either side (its FDB lookup, its forwarding, a netns crossing into the network's "
        "sandbox), and no VXLAN device (its route lookup per packet on send; the UDP socket, "
        "vxlan_rcv and GRO-cell queue on receive) as Docker's layout has on both nodes"
    ),
    ("routed", "kernelvx", "overlay"): "The routed pair encapsulates nothing and walks no bridge",
    ("hawser", "routed", "overlay"): (
        "Hawser's containers are handed to their veth peer (bpf_redirect_peer) on both nodes, "
        "where the routed pair walks each node's IP forwarding"
    ),
}


@dataclass
class RatioView:
    text: str  # what the table shows
    settled_above: bool
    withdrawn: bool
    mechanism: str | None


def ref_name(scenario: str, kind: str) -> str:
    return (S5_REF_NAMES if scenario == "S5" else REF_NAMES)[kind]


def view(rows: list[Row], row: Row, metric: str, ref: str) -> RatioView:
    ci = ratio(rows, row, metric, ref)
    if ci is None:
        return RatioView("—", False, False, None)
    med, lo, hi = ci
    interval = f"[{_r(lo)}–{_r(hi)}]"
    mech = MECHANISMS.get((row.kind, ref, PATH_CLASS.get(row.scenario, "")))
    if stats.above_one(ci):
        if mech is None:
            return RatioView(f"withdrawn ({_r(med)}× {interval}: no mechanism)", True, True, None)
        return RatioView(f"{_r(med)}× {interval}", True, False, mech)
    if stats.overlaps_one(ci):
        return RatioView(f"≈1× {interval}", False, False, None)
    return RatioView(f"{_r(med)}× {interval}", False, False, None)


def _r(v: float) -> str:
    return f"{v:.2f}" if v >= 0.1 else f"{v:.2g}"


# ---- targets -------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    measured: str
    verdict: str


def _ratio_target(
    rows: list[Row], name: str, row: Row | None, metric: str, ref: str, goal: float
) -> Target:
    if row is None or reference(rows, row, ref) is None:
        return Target(name, "not measured", "NOT MEASURED")
    for r in (row, reference(rows, row, ref)):
        assert r is not None
        if r.invalid:
            return Target(name, f"{r.config}: INVALID run(s)", "INVALID")
        if not r.measured:
            return Target(name, f"{r.config}: {r.note or 'no runs'}", "NOT MEASURED")
    ci = ratio(rows, row, metric, ref)
    if ci is None:
        return Target(name, "not measured", "NOT MEASURED")
    med, lo, hi = ci
    return Target(name, f"{_r(med)}× [{_r(lo)}–{_r(hi)}]", stats.verdict(lo, hi, goal, True))


def _value_target(name: str, row: Row | None, metric: str, goal: float, unit: str) -> Target:
    if row is None:
        return Target(name, "not measured", "NOT MEASURED")
    if row.invalid:
        return Target(name, "INVALID run(s)", "INVALID")
    ci = row.ci(metric)
    if ci is None:
        return Target(name, row.note or "not measured", "NOT MEASURED")
    med, lo, hi = ci
    shown = f"{med:.3g} {unit} [{lo:.3g}–{hi:.3g}]"
    return Target(name, shown, stats.verdict(lo, hi, goal, False))


def _interval_target(rows: list[Row], name: str, case: str) -> Target:
    """Sustained S8: Hawser's overall rate against iptables' (same run, same case), with the
    interval from resampling each side's per-interval rates."""
    hw = find(rows, "S8", "hawser", 0, case)
    ipt = find(rows, "S8", "iptables", 0, case)
    if hw is None or ipt is None or not hw.intervals or not ipt.intervals:
        return Target(name, "not measured", "NOT MEASURED")
    if hw.invalid or ipt.invalid:
        return Target(name, "INVALID run(s)", "INVALID")
    ci = stats.mean_ratio_ci(hw.intervals[0], ipt.intervals[0])
    if ci is None:
        return Target(name, "not measured", "NOT MEASURED")
    med, lo, hi = ci
    return Target(name, f"{_r(med)}× [{_r(lo)}–{_r(hi)}]", stats.verdict(lo, hi, 1.0, True))


def targets(rows: list[Row], s6_sizes: tuple[int, ...]) -> list[Target]:
    out = []
    for sc, metric in (("S2", "req_s"), ("S3", "conn_s")):
        hw = find(rows, sc, "hawser", 10000)
        out.append(
            _ratio_target(rows, f"{sc} N=10,000: Hawser ≥ 0.95× no-NAT", hw, metric, "nonat", 0.95)
        )
        out.append(
            _ratio_target(rows, f"{sc} N=10,000: Hawser ≥ 2× iptables", hw, metric, "iptables", 2.0)
        )
    hw5 = find(rows, "S5", "hawser")
    for metric in ("gbit_s", "req_s"):
        out.append(
            _ratio_target(rows, f"S5 {metric}: Hawser ≥ 0.95× direct", hw5, metric, "nonat", 0.95)
        )
    small, large = s6_sizes[0], s6_sizes[-1]
    out.append(
        _value_target(
            f"S6: Hawser publishes {small:,} ports in ≤ 0.2 s",
            find(rows, "S6", "hawser", small),
            "wall_s",
            0.2,
            "s",
        )
    )
    out.append(
        _value_target(
            f"S6: Hawser publishes {large:,} ports in ≤ 1 s",
            find(rows, "S6", "hawser", large),
            "wall_s",
            1.0,
            "s",
        )
    )
    for pos in ("first", "middle", "last"):
        row = find(rows, "S6", "hawser", large, f"conflict-{pos}")
        out.append(
            _value_target(
                f"S6: conflict on the {pos} port of {large:,} reported in ≤ 0.1 s",
                row,
                "conflict_s",
                0.1,
                "s",
            )
        )
    procs = find(rows, "S6", "hawser", small)
    out.append(_value_target("S6: no extra process", procs, "processes", 0, "processes"))
    out.append(
        _value_target(
            "S7: p50 ≤ 15 ms per container", find(rows, "S7", "hawser"), "p50_ms", 15, "ms"
        )
    )
    for case, what in (
        ("1-fin-sustained", "1 destination"),
        ("100-fin-sustained", "100 destinations"),
    ):
        out.append(
            _interval_target(
                rows,
                f"S8 sustained, {what}: Hawser ≥ 1.0× iptables MASQUERADE (overall rate)",
                case,
            )
        )
        hw = find(rows, "S8", "hawser", 0, case)
        if hw is not None and hw.measured and "snat_no_port" in hw.values:
            drops = int(sum(hw.values["snat_no_port"]))
            out.append(
                Target(
                    f"S8 sustained, {what}: zero snat_no_port drops",
                    f"{drops:,}",
                    "PASS" if drops == 0 else "FAIL",
                )
            )
    out += _s9_targets(rows)
    return out


def _s9_targets(rows: list[Row]) -> list[Target]:
    out = []
    for case, goal, what in (("tcp", 1.0, "TCP throughput"), ("rr", 1.1, "request/response")):
        hw = find(rows, "S9", "hawser", 0, case)
        metric = hw and headline(hw)
        out.append(
            _ratio_target(
                rows, f"S9 {what}: Hawser ≥ {goal:g}× Docker's overlay layout", hw,
                metric or "", "kernelvx", goal,
            )
        )  # fmt: skip
    scale = next((r for r in rows if r.scenario == "S9" and r.case == "scale"), None)
    label = (
        f"S9 scale: a node programs {scale.n:,} remote endpoints (maps and DNS) in ≤ 2 s"
        if (scale)
        else "S9 scale: a node programs 10,000 remote endpoints (maps and DNS) in ≤ 2 s"
    )
    out.append(_value_target(label, scale, "program_s", 2.0, "s"))
    return out


# ---- generated prose ---------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _ci_text(row: Row, metric: str) -> str:
    ci = row.ci(metric)
    if ci is None:
        return "—"
    return f"{_fmt(ci[0])} [{_fmt(ci[1])}–{_fmt(ci[2])}]"


def _hawser_line(rows: list[Row], row: Row, metric: str, why: dict[str, str]) -> str:
    """'Hawser N=0 (case): 4,013 [3,753–9,013] conn_s — ≈1× [..] limit, …'; fills `why`."""
    parts = []
    for ref in ("limit", "nonat", "iptables"):
        v = view(rows, row, metric, ref)
        if v.text == "—":
            continue
        name = ref_name(row.scenario, ref)
        parts.append(f"{v.text} {name}" if not v.withdrawn else f"{name}: {v.text}")
        if v.mechanism:
            why.setdefault(name, v.mechanism)
    case = f" ({row.case_label})" if row.case_label else ""
    return f"{row.config}{case}: {_ci_text(row, metric)} {metric} — " + ", ".join(parts)


HEADLINES = {
    "S1": ("gbit_s",),
    "S2": ("req_s",),
    "S3": ("conn_s",),
    "S4": ("rx_pps",),
    "S5": ("gbit_s", "req_s"),
    "S8": ("conn_s",),
}


def prose(rows: list[Row]) -> list[str]:
    """The analysis section: per scenario, Hawser against each reference, and why."""
    lines: list[str] = []
    invalid = [r for r in rows if r.invalid]
    if invalid:
        lines.append(
            "- **Invalid rows** (the counters of the path they name did not move with the load, "
            "so they give no number):"
        )
        for r in invalid:
            case = f" ({r.case_label})" if r.case_label else ""
            more = f" (+{len(r.problems) - 1} more)" if len(r.problems) > 1 else ""
            lines.append(f"  - {r.scenario}{case} {r.config}: {r.problems[0]}{more}")
    for sc, metrics in HEADLINES.items():
        mine = [r for r in rows if r.scenario == sc and not r.sustained]
        hawser = [r for r in mine if r.kind == "hawser" and r.measured]
        if not hawser:
            continue
        why: dict[str, str] = {}
        lines.append(f"- **{sc}** (median [95% CI], ratios against the same round's references):")
        for r in hawser:
            for metric in metrics:
                lines.append("  - " + _hawser_line(rows, r, metric, why))
        ipt = [r for r in mine if r.kind == "iptables" and r.measured and r.n]
        if ipt and (base := find(rows, sc, "iptables", 0)) is not None and base.measured:
            steps = " → ".join(f"N={r.n:,} {_ci_text(r, metrics[0])}" for r in [base, *ipt])
            lines.append(f"  - iptables with N other published ports: {steps} {metrics[0]}")
        for name, text in why.items():
            lines.append(f"  - Why Hawser can beat {name}: {text}.")
    lines += _s9_prose(rows)
    lines += _control_prose(rows)
    for r in rows:
        if not r.sustained or not r.measured or not r.intervals:
            continue
        rates = r.intervals[0]
        first, last, low = rates[0], rates[-1], min(rates)
        if last < 0.5 * first:
            trend = (
                f"**collapses**: {_fmt(first)}/s in the first {r.interval_s:g} s, "
                f"{_fmt(last)}/s in the last, {_fmt(low)}/s at worst"
            )
        else:
            trend = f"holds: {_fmt(first)}/s first, {_fmt(last)}/s last, {_fmt(low)}/s at worst"
        drops = ""
        if "snat_no_port" in r.values:
            drops = (
                f"; {int(sum(r.values['snat_no_port'])):,} snat_no_port and "
                f"{int(sum(r.values['ct_full'])):,} ct_full drops"
            )
        if r.values.get("errors"):
            drops += f"; {int(sum(r.values['errors'])):,} failed connections"
        lines.append(f"- **{r.scenario} {r.case_label}**, {r.config}: {trend}{drops}.")
    return lines


def _s9_prose(rows: list[Row]) -> list[str]:
    hawser = [r for r in rows if r.scenario == "S9" and r.kind == "hawser" and r.measured]
    lines: list[str] = []
    why: dict[str, str] = {}
    cases = [r for r in hawser if r.case != "scale"]
    if cases:
        lines.append("- **S9** (median [95% CI], ratios against the same runs' references):")
        for r in cases:
            parts = []
            for ref in ("routed", "kernelvx"):
                v = view(rows, r, headline(r), ref)
                if v.text == "—":
                    continue
                name = ref_name("S9", ref)
                parts.append(f"{v.text} {name}" if not v.withdrawn else f"{name}: {v.text}")
                if v.mechanism:
                    why.setdefault(name, v.mechanism)
            lines.append(
                f"  - {r.case_label}: {_ci_text(r, headline(r))} {headline(r)} — "
                + ", ".join(parts)
            )
        for name, text in why.items():
            lines.append(f"  - Why Hawser can beat {name}: {text}.")
    for r in hawser:
        if r.case == "scale":
            lines.append(
                f"- **S9 scale**, {r.config}: a joining node programs them in "
                f"{_ci_text(r, 'program_s')} s (its full read {_ci_text(r, 'sync_s')} s); while "
                f"they are written, it is {_ci_text(r, 'stream_s')} s behind the last write; idle "
                f"afterwards it uses {_ci_text(r, 'idle_cpu_pct')} % of a CPU."
            )
    return lines


def _control_prose(rows: list[Row]) -> list[str]:
    lines = []
    ranges = sorted(
        (
            r
            for r in rows
            if r.scenario == "S6" and r.kind == "hawser" and not r.case and r.measured
        ),
        key=lambda r: r.n,
    )
    docker = next(
        (r for r in rows if r.scenario == "S6" and r.kind == "docker" and r.measured), None
    )
    if ranges:
        parts = [f"{r.n:,} ports {_ci_text(r, 'wall_s')} s" for r in ranges]
        text = "- **S6**: Hawser publishes " + ", ".join(parts)
        if docker is not None:
            text += f"; Docker's way takes {_ci_text(docker, 'wall_s')} s for {docker.n:,} ports"
        base, base_t = ranges[0], ranges[0].median("wall_s")
        growth = [
            f"{r.n // base.n}× the ports take {t / base_t:.1f}× the time"
            for r in ranges[1:]
            if (t := r.median("wall_s")) is not None and base_t
        ]
        if growth:
            text += " (" + "; ".join(growth) + ": linear would be the same factor)"
        lines.append(text + ".")
    conflicts = [r for r in rows if r.scenario == "S6" and r.case.startswith("conflict")]
    if conflicts and all(r.measured for r in conflicts):
        parts = [f"{r.case.split('-')[1]} {_ci_text(r, 'conflict_s')} s" for r in conflicts]
        lines.append(
            f"  - Refusing a {conflicts[0].n:,}-port range that conflicts at its "
            + ", ".join(parts)
            + " (nothing changed after any refusal)."
        )
    s7 = next((r for r in rows if r.scenario == "S7" and r.measured), None)
    if s7 is not None:
        lines.append(
            f"- **S7**: {s7.config}: p50 {_ci_text(s7, 'p50_ms')} ms, p95 "
            f"{_ci_text(s7, 'p95_ms')} ms per container; `hawser run` from the shell "
            f"{_ci_text(s7, 'cli_run_ms')} ms."
        )
    return lines
