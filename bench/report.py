"""BENCHMARKS.md (method, targets, tables, generated analysis) and PNGs under bench/plots/.

The whole file is generated from the rows: there is no hand-written part to drift from the
figures. A machine-readable block of the headline figures is embedded at the end, so that the
next report can state which figures changed.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path
from typing import Any

from bench import analysis
from bench.results import METRICS, REFERENCES, S9_SCALE_METRICS, TITLES, Row, headline, ratio

FIGURES_MARK = "<!-- figures:"


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if float(v).is_integer():
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _cell(row: Row, metric: str) -> str:
    ci = row.ci(metric)
    if ci is None:
        return "—"
    med, lo, hi = ci
    return f"{_fmt(med)} [{_fmt(lo)}–{_fmt(hi)}]"


def _why_not(row: Row) -> str:
    if row.invalid:
        more = f" (+{len(row.problems) - 1} more)" if len(row.problems) > 1 else ""
        return f"**INVALID**: {row.problems[0]}{more}"
    return row.note or "no runs"


def _worth(row: Row, metric: str) -> bool:
    """Extra figures under a table: drop counters always, other counts only when not zero."""
    vals = row.values.get(metric)
    if not vals or not row.measured:
        return False
    return metric in ("snat_no_port", "ct_full") or any(vals)


def _short_table(rows: list[Row], sc: str) -> list[str]:
    mine = [r for r in rows if r.scenario == sc and not r.sustained]
    if not mine:
        return []
    present = [m for m in METRICS[sc] if any(m in r.values for r in mine)]
    shown, others = present[:3], present[3:]
    refs = [k for k in REFERENCES[sc] if any(r.kind == k for r in mine)]
    lead = []
    if sc in ("S2", "S3"):
        lead = ["N"]
    elif sc == "S8":
        lead = ["case"]
    head = [*lead, "configuration", "runs", *[f"{m} median [95% CI]" for m in shown]]
    head += [f"×{analysis.ref_name(sc, k)}" for k in refs]
    lines = [f"### {TITLES[sc]}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in mine:
        pre = [f"{r.n:,}"] if sc in ("S2", "S3") else ([r.case_label] if sc == "S8" else [])
        if not r.measured:
            cells = [*pre, r.config, _why_not(r)] + ["—"] * (len(head) - len(pre) - 2)
        else:
            cells = [*pre, r.config, str(r.runs), *[_cell(r, m) for m in shown]]
            cells += [
                analysis.view(rows, r, shown[0], k).text if k != r.kind else "1×" for k in refs
            ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append("")
    for r in mine:
        more = [f"{m} {_cell(r, m)}" for m in others if _worth(r, m)]
        if more:
            case = f" ({r.case_label})" if r.case_label else ""
            lines.append(f"- {r.config}{case}: " + ", ".join(more))
    if any(_worth(r, m) for r in mine for m in others):
        lines.append("")
    return lines


def _sustained_table(rows: list[Row]) -> list[str]:
    mine = [r for r in rows if r.sustained]
    if not mine:
        return []
    step = next((r.interval_s for r in mine if r.interval_s), 0.0)
    lines = [
        f"### Sustained connection rates (S3 and S8): conn/s in each {step:g} s interval",
        "",
        "| scenario | configuration | overall conn/s | per interval | first → last (min) "
        "| failed connections | snat_no_port | ct_full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in mine:
        what = f"{r.scenario} {r.case_label}"
        if not r.measured or not r.intervals:
            lines.append(f"| {what} | {r.config} | {_why_not(r)} | — | — | — | — | — |")
            continue
        rates = r.intervals[0]
        series = " ".join(_fmt(x) for x in rates)
        counts = [
            f"{int(sum(r.values[k])):,}" if k in r.values else "—"
            for k in ("errors", "snat_no_port", "ct_full")
        ]
        lines.append(
            f"| {what} | {r.config} | {_fmt(r.values['conn_s'][0])} | {series} | "
            f"{_fmt(rates[0])} → {_fmt(rates[-1])} ({_fmt(min(rates))}) | {' | '.join(counts)} |"
        )
    return [*lines, ""]


def _control_table(rows: list[Row], sc: str) -> list[str]:
    mine = [r for r in rows if r.scenario == sc and not r.case.startswith("conflict")]
    if not mine:
        return []
    present = [m for m in METRICS[sc] if m != "conflict_s" and any(m in r.values for r in mine)]
    shown, others = present[:4], present[4:]
    head = ["configuration", "runs", *[f"{m} median [95% CI]" for m in shown]]
    if sc == "S6":
        head.append("wall_s ×docker (lower is faster)")
    lines = [f"### {TITLES[sc]}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in mine:
        if not r.measured:
            cells = [r.config, _why_not(r)] + ["—"] * (len(head) - 2)
        else:
            cells = [r.config, str(r.runs), *[_cell(r, m) for m in shown]]
            if sc == "S6":
                ci = ratio(rows, r, "wall_s", "docker") if r.kind == "hawser" else None
                cells.append(
                    f"{ci[0]:.2g}× [{ci[1]:.2g}–{ci[2]:.2g}]"
                    if ci
                    else "1×"
                    if r.kind == "docker"
                    else "—"
                )
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append("")
    for r in mine:
        more = [f"{m} {_cell(r, m)}" for m in others if m in r.values and r.measured]
        if more:
            lines.append(f"- {r.config}: " + ", ".join(more))
    if any(m in r.values for r in mine for m in others):
        lines.append("")
    conflicts = [r for r in rows if r.scenario == sc and r.case.startswith("conflict")]
    if conflicts:
        lines += [
            "Refusing a range that conflicts with a published port (each refusal is checked to "
            "leave containers, datapath ports and endpoints, and sandboxes unchanged):",
            "",
            "| configuration | runs | conflict_s median [95% CI] |",
            "|---|---|---|",
        ]
        for r in conflicts:
            shown_cell = _cell(r, "conflict_s") if r.measured else _why_not(r)
            lines.append(f"| {r.config} | {r.runs} | {shown_cell} |")
        lines.append("")
    return lines


def _s9_table(rows: list[Row]) -> list[str]:
    """S9: one line per case and path, each case with its own headline; then the scale case."""
    mine = [r for r in rows if r.scenario == "S9" and r.case != "scale"]
    lines: list[str] = []
    if mine:
        refs = [k for k in REFERENCES["S9"] if any(r.kind == k for r in mine)]
        head = ["case", "configuration", "runs", "median [95% CI]", "p50 / p99 µs"]
        head += [f"×{analysis.ref_name('S9', k)}" for k in refs]
        lines += [
            f"### {TITLES['S9']}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for r in mine:
            metric = headline(r)
            if not r.measured:
                cells = [r.case_label, r.config, _why_not(r)] + ["—"] * (len(head) - 3)
            else:
                lat = "—"
                if "p50_us" in r.values:
                    lat = f"{_fmt(r.median('p50_us'))} / {_fmt(r.median('p99_us'))}"
                cells = [r.case_label, r.config, str(r.runs), f"{_cell(r, metric)} {metric}", lat]
                cells += [
                    analysis.view(rows, r, metric, k).text if k != r.kind else "1×" for k in refs
                ]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        lines.append("")
    scale = [r for r in rows if r.scenario == "S9" and r.case == "scale"]
    for r in scale:
        lines += [
            f"#### S9 scale — {r.config}: a node's maps and DNS (seconds; idle CPU in % of a CPU)",
            "",
            "| " + " | ".join(["runs", *(f"{m} median [95% CI]" for m in S9_SCALE_METRICS)]) + " |",
            "|" + "---|" * (len(S9_SCALE_METRICS) + 1),
        ]
        if not r.measured:
            lines.append(f"| {_why_not(r)} |" + " — |" * len(S9_SCALE_METRICS))
        else:
            lines.append(
                f"| {r.runs} | " + " | ".join(_cell(r, m) for m in S9_SCALE_METRICS) + " |"
            )
        lines += [
            "",
            "program_s: a node joining (restarted without pinned maps) until its tunnel map holds "
            "every remote endpoint and its DNS answers for the last one (sync_s: its full read of "
            "the store applied, dns_s: the DNS after its API answered); stream_s: the same, "
            "while the endpoints are written, from the last write; withdraw_s: deleted until the "
            "tunnel map is empty.",
            "",
        ]
    return lines


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    deb = Path("/etc/debian_version")
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "os": f"Debian {deb.read_text().strip()}" if deb.exists() else "",
    }


def figures(rows: list[Row], targets: list[analysis.Target]) -> dict[str, str]:
    """Headline figures by name (targets and every ratio shown), for the next report's diff."""
    out = {f"target: {t.name}": f"{t.measured} ({t.verdict})" for t in targets}
    for r in rows:
        if r.sustained or r.scenario in ("S6", "S7") or not r.measured:
            continue
        metric = headline(r)
        for ref in REFERENCES[r.scenario]:
            if ref == r.kind:
                continue
            v = analysis.view(rows, r, metric, ref)
            if v.text != "—":
                case = f" ({r.case_label})" if r.case_label else ""
                key = (
                    f"{r.scenario}{case} {r.config} {metric} ×{analysis.ref_name(r.scenario, ref)}"
                )
                out[key] = v.text
    return out


def previous_figures(old_text: str | None) -> dict[str, str]:
    """The figures of the report being replaced (its embedded block, or its targets table)."""
    if not old_text:
        return {}
    if FIGURES_MARK in old_text:
        block = old_text.split(FIGURES_MARK, 1)[1].split("-->", 1)[0]
        try:
            return dict(json.loads(block))
        except ValueError:
            return {}
    out = {}
    section = old_text.split("## Targets", 1)[-1].split("## Results", 1)[0]
    for m in re.finditer(r"^\| (.+?) \| (.+?) \| \*\*(.+?)\*\* \|$", section, re.M):
        out[f"target: {m.group(1)}"] = f"{m.group(2)} ({m.group(3)})"
    return out


def changes(old: dict[str, str], new: dict[str, str], old_date: str) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if a is None:
            continue  # new figures are in the tables; only changes are listed
        lines.append(f"- {key}: was {a}, now {b or 'not in this report'}")
    if not lines:
        return []
    return [f"## Figures changed since the previous report ({old_date})", "", *lines, ""]


def _old_date(old_text: str | None) -> str:
    m = re.search(r"^- Date: (\S+)", old_text or "", re.M)
    return m.group(1) if m else "unknown date"


def markdown(
    rows: list[Row], meta: dict[str, Any], old_text: str | None, s6_sizes: tuple[int, ...]
) -> str:
    m = meta["machine"]
    targets = analysis.targets(rows, s6_sizes)
    lines = [
        "# Hawser benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py --full`) from the runs it made: every figure, "
        "ratio, verdict and sentence below comes from the measurements; nothing is edited by "
        "hand.",
        "",
        f"- Date: {meta['date']} — mode `{meta['mode']}`, {meta['runs']} runs per figure after "
        f"one warm-up run, {meta['seconds']} s per load run, iperf3 {meta['iperf_seconds']} s, "
        f"sustained runs {meta['sustained_seconds']:g} s",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}; "
        f"kernel {m['kernel']}",
        f"- Tools: {meta['tools']}",
        f"- Load average (1/5/15 min): {meta.get('loadavg', '?')}; wall time "
        f"{meta.get('elapsed_s', '?')} s",
        "- **Method.** Every variant is set up at once and the runs are interleaved (A B C D A B "
        "C D …) after one warm-up run per cell, so drifts of the machine spread over all "
        f"variants. Load generators run on CPU {meta['client_cpu']}, servers on CPU "
        f"{meta['server_cpu']} (taskset). A figure is the **median** of the runs with its "
        "**95 % bootstrap interval**; a ratio is a ratio of medians with its own bootstrap "
        "interval, against the references measured in the same round. A verdict is PASS or "
        "FAIL only when the whole interval is on one side of the target, otherwise NOT SETTLED.",
        "- **References.** *limit*: the client and server netns joined by one veth — the "
        "shortest kernel path, no translation. *no NAT (Docker's path)*: the outside host "
        "routes to the container's own address through the node's bridge and IP forwarding, "
        "no rules (for S8: the container's address leaves untranslated). *iptables*: Docker "
        "20.10's rule layout (shared/reference/iptables-layout.txt) in the node netns "
        "(iptables-nft), N other published ports each adding a DNAT, a filter ACCEPT and a "
        "hairpin MASQUERADE rule, the measured port's rules in the middle; for S8 its "
        "MASQUERADE rule. *docker-proxy*: Debian docker.io 20.10's binary. *Hawser*: `hawser "
        "daemon` in the node, containers made with `hawser run`; S8's client runs in the "
        "container's sandbox (its `SandboxKey`).",
        "- **Proof of path.** Every run, warm-ups included, is checked after its load: Hawser's "
        "datapath counters (new flows, packets and bytes of the published port; forwarded "
        "packets per direction; packets the container sent; the masquerade conntrack entries "
        "the run created) and an empty netfilter ruleset in its node; the iptables DNAT / "
        "MASQUERADE rule counters; docker-proxy's listener, the connections the node accepted "
        "and the proxy's CPU time with the kernel DNAT rule untouched; for limit and no NAT: no "
        "tc hook, no XDP, no rule in any of their netns. The servers count accepted connections "
        "per peer address, so every TCP scenario also shows whether the source was translated. "
        "A row with a failed check is **INVALID** and shows no number.",
        "- Load: `bench/loadgen.c` (epoll, one thread; S3 from 32 source addresses, S8 to 1 or "
        "100 destinations, closed by the client with RST or by the server first as an HTTP "
        "server with `Connection: close` does, which leaves TIME_WAIT on the server) for "
        "S2–S5/S8, iperf3 for throughput.",
        "- **S9** (across nodes): three pairs of nodes on underlays of their own, a client "
        "container on node 1 and a server container on node 2: *routed* (the nodes route each "
        "other's container subnet, no tunnel), *Docker's overlay layout* built by hand as "
        "libnetwork does (a network sandbox per node with `br0` and a kernel `vxlan` device, "
        "permanent neighbour and FDB entries for the remote endpoint) and *Hawser* (a daemon "
        "per node, an etcd on the underlay, `network create -d overlay`). Proof of path: "
        "Hawser's tunnel counters toward node 2 and its nodes' `hawser_vx` devices carrying "
        "under 1 % of the load (the datapath encapsulates), the kernel `vxlan0` counters and "
        "FDB entry, "
        "the routed pair's underlay interface; no tc hook, XDP or rule where none belongs. The "
        "scale case simulates 100 nodes and 10,000 endpoints in etcd (bench/overlay_scale.py).",
        "",
    ]
    selftest = meta.get("selftest") or []
    if selftest:
        lines += ["## Self-test of the path checks", ""]
        lines += [f"- {line}" for line in selftest]
        lines.append("")
    lines += ["## Targets", "", "| target | measured [95% CI] | verdict |", "|---|---|---|"]
    for t in targets:
        lines.append(f"| {t.name} | {t.measured} | **{t.verdict}** |")
    lines.append("")
    new_figures = figures(rows, targets)
    lines += changes(previous_figures(old_text), new_figures, _old_date(old_text))
    lines += ["## Results", ""]
    plots_dir = Path(meta["plots_dir"])
    for sc in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"):
        if sc == "S9":
            table = _s9_table(rows)
        elif sc in ("S6", "S7"):
            table = _control_table(rows, sc)
        else:
            table = _short_table(rows, sc)
        if not table:
            continue
        lines += table
        if (plots_dir / f"{sc.lower()}.png").exists() and meta.get("mode") == "full":
            lines += [f"![{sc}](bench/plots/{sc.lower()}.png)", ""]
    lines += _sustained_table(rows)
    if (plots_dir / "sustained.png").exists() and meta.get("mode") == "full":
        lines += ["![sustained](bench/plots/sustained.png)", ""]
    lines += ["## Analysis (generated from the rows above)", "", *analysis.prose(rows), ""]
    if old_text and FIGURES_MARK not in old_text:  # replacing a report made before path checks
        lines += [
            f"- Withdrawn: the report of {_old_date(old_text)} ran its S8 client in the node's "
            "netns (a container's `State.Pid` is its supervisor's shim, which lives there), so "
            "its masquerade figures measured no NAT at all; its runs were not checked for their "
            "path, so none of its figures carries over. Its changed targets are listed above.",
            "",
        ]
    lines += ["## Clean bench", ""]
    clean = meta.get("clean") or {}
    if clean.get("problems"):
        lines += [f"- **NOT CLEAN**: {p}" for p in clean["problems"]]
    else:
        lines.append(
            "- Nothing left: no program of this run on the root cgroup, no netns, no bpffs pin, "
            "no state folder (checked at the end of the run)."
        )
    lines += [f"- {n}" for n in clean.get("notes", [])]
    lines.append("")
    if meta.get("errors"):
        lines += ["## Problems met during this run", ""]
        lines += [f"- {e}" for e in meta["errors"]]
        lines.append("")
    lines += [f"{FIGURES_MARK} {json.dumps(new_figures, ensure_ascii=False, indent=0)} -->", ""]
    return "\n".join(lines)


def plots(rows: list[Row], out_dir: Path) -> list[Path]:
    """Bar charts of medians with 95 % intervals per scenario; rates per interval for sustained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    colours = {
        "limit": "#2ca02c",
        "nonat": "#7f7f7f",
        "iptables": "#d62728",
        "docker": "#d62728",
        "hawser": "#1f77b4",
    }
    written = []
    for sc in sorted({r.scenario for r in rows}):
        mine = [r for r in rows if r.scenario == sc and not r.sustained]
        if not mine or sc == "S9":  # cases of different units: the table says it
            continue
        metric = METRICS[sc][0]
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(mine)), 4.2))
        labels, meds, lo, hi, cols = [], [], [], [], []
        for r in mine:
            ci = r.ci(metric)
            case = f"\n{r.case}" if r.case else ""
            labels.append(r.config.replace(" N=", "\nN=").replace(" (", "\n(") + case)
            meds.append(ci[0] if ci else 0.0)
            lo.append(ci[0] - ci[1] if ci else 0.0)
            hi.append(ci[2] - ci[0] if ci else 0.0)
            cols.append(colours.get(r.kind, "#9467bd"))
        xs = list(range(len(labels)))
        ax.bar(xs, meds, yerr=[lo, hi], color=cols, capsize=4)
        for x, r in zip(xs, mine, strict=True):
            if not r.measured:
                ax.text(
                    x,
                    0,
                    "INVALID" if r.invalid else "not\nmeasured",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, fontsize=6)
        ax.set_ylabel(f"{metric} (median, 95% CI)")
        fig.suptitle(TITLES[sc], fontsize=8, wrap=True)
        fig.tight_layout()
        path = out_dir / f"{sc.lower()}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    sustained = [r for r in rows if r.sustained and r.intervals and r.measured]
    if sustained:
        groups = sorted({(r.scenario, r.case_label) for r in sustained})
        fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.8), squeeze=False)
        for ax, (sc, case) in zip(axes[0], groups, strict=True):
            for r in sustained:
                if (r.scenario, r.case_label) != (sc, case):
                    continue
                rates = r.intervals[0]
                ts = [(i + 1) * r.interval_s for i in range(len(rates))]
                ax.plot(ts, rates, marker="o", label=r.config, color=colours.get(r.kind))
            ax.set_title(f"{sc} {case}", fontsize=8)
            ax.set_xlabel("s")
            ax.set_ylabel("conn/s")
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=6)
        fig.tight_layout()
        path = out_dir / "sustained.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


__all__ = ["machine", "markdown", "plots"]
