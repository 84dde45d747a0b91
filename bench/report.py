"""BENCHMARKS.md (tables, targets) and one PNG per scenario under bench/plots/."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from bench.results import METRICS, TITLES, Row, find, ratio

ANALYSIS_MARK = (
    "<!-- hand-written analysis below this line is kept when the file is regenerated -->"
)


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _ratio(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.2f}×" if v >= 0.1 else f"{v:.2g}×"


def targets(rows: list[Row]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the issue's targets; 'not measured' when a row is missing."""
    out: list[tuple[str, str, str]] = []

    def check(name: str, measured: float | None, ok: bool | None, shown: str) -> None:
        if measured is None or ok is None:
            out.append((name, "not measured", "NOT MEASURED"))
        else:
            out.append((name, shown, "PASS" if ok else "FAIL"))

    for sc, metric in (("S2", "req_s"), ("S3", "conn_s")):
        hw = find(rows, sc, "hawser", 10000)
        r_nonat = ratio(rows, hw, metric, "nonat") if hw else None
        r_ipt = ratio(rows, hw, metric, "iptables") if hw else None
        check(
            f"{sc} N=10,000: Hawser ≥ 0.95× no-NAT",
            r_nonat,
            None if r_nonat is None else r_nonat >= 0.95,
            _ratio(r_nonat),
        )
        check(
            f"{sc} N=10,000: Hawser ≥ 2× iptables",
            r_ipt,
            None if r_ipt is None else r_ipt >= 2.0,
            _ratio(r_ipt),
        )
    hw5 = find(rows, "S5", "hawser")
    for metric in ("gbit_s", "req_s"):
        r = ratio(rows, hw5, metric, "nonat") if hw5 else None
        check(f"S5 {metric}: Hawser ≥ 0.95× direct", r, None if r is None else r >= 0.95, _ratio(r))
    hw6 = find(rows, "S6", "hawser")
    wall = hw6.median("wall_s") if hw6 else None
    procs = hw6.median("processes") if hw6 else None
    check(
        "S6: Hawser publishes 1,000 ports in ≤ 0.2 s",
        wall,
        None if wall is None else wall <= 0.2,
        f"{wall:.3f} s" if wall is not None else "",
    )
    check(
        "S6: no extra process",
        procs,
        None if procs is None else procs <= 0,
        f"{procs:+.0f} processes" if procs is not None else "",
    )
    hw7 = find(rows, "S7", "hawser")
    p50 = hw7.median("p50_ms") if hw7 else None
    check(
        "S7: p50 ≤ 15 ms per container",
        p50,
        None if p50 is None else p50 <= 15,
        f"{p50:.1f} ms" if p50 is not None else "",
    )
    return out


def _table(rows: list[Row], sc: str) -> list[str]:
    mine = [r for r in rows if r.scenario == sc]
    if not mine:
        return []
    present = [m for m, _ in METRICS[sc] if any(m in r.values for r in mine)]
    metrics, others = present[:4], present[4:]
    ref_kind = "docker" if sc == "S6" else "iptables"
    lines = [f"### {TITLES[sc]}", ""]
    head = ["configuration", "runs"]
    for m in metrics:
        head += [f"{m} median", "min–max"]
    first = metrics[0] if metrics else ""
    if sc not in ("S6", "S7"):
        head += [f"{first} ×no-NAT" if sc != "S5" else f"{first} ×direct"]
    if sc not in ("S7",):
        head += [f"{first} ×{'docker' if sc == 'S6' else 'iptables'}"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in mine:
        if not r.values:
            note = " ".join(r.note.replace("|", "/").split())
            lines.append(
                "| " + " | ".join([f"{r.config} — {note}", "0"] + ["—"] * (len(head) - 2)) + " |"
            )
            continue
        runs = max(len(v) for v in r.values.values())
        cells = [r.config, str(runs)]
        for m in metrics:
            sp = r.spread(m)
            cells += [_fmt(r.median(m)), f"{_fmt(sp[0])}–{_fmt(sp[1])}" if sp else "—"]
        if sc not in ("S6", "S7"):
            cells.append(_ratio(ratio(rows, r, first, "nonat")))
        if sc != "S7":
            cells.append(_ratio(ratio(rows, r, first, ref_kind)))
        if r.note:
            cells[0] += " (" + " ".join(r.note.replace("|", "/").split()) + ")"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in mine:
        more = [f"{m} {_fmt(r.median(m))}" for m in others if m in r.values]
        if more:
            lines.append(f"- {r.config}, medians: " + ", ".join(more))
    if any(m in r.values for r in mine for m in others):
        lines.append("")
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
    debian = (
        Path("/etc/debian_version").read_text().strip()
        if Path("/etc/debian_version").exists()
        else ""
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "os": f"Debian {debian}".strip(),
    }


def markdown(rows: list[Row], meta: dict[str, Any], old_text: str | None) -> str:
    m = meta["machine"]
    lines = [
        "# Hawser benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py --full`); the numbers are measured, never "
        "edited.",
        "",
        f"- Date: {meta['date']} — mode `{meta['mode']}`, {meta['runs']} runs per figure, "
        f"{meta['seconds']} s per load run, iperf3 {meta['iperf_seconds']} s",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}; "
        f"kernel {m['kernel']}",
        f"- Tools: {meta['tools']}",
        f"- Load average (1/5/15 min): {meta.get('loadavg', '?')}; wall time "
        f"{meta.get('elapsed_s', '?')} s",
        "- Each figure is the **median** of the runs, with min–max as its spread; ratios are "
        "medians divided by the no-NAT (or direct) median and by the iptables median at the "
        "same N.",
        "- Topology: netns `ext` (198.18.0.2) ↔ veth ↔ netns `node` (uplink 198.18.0.1) ↔ "
        "bridge ↔ server container netns. No NAT = ext routes to the container address, no "
        "rules. iptables = Docker 20.10's rule layout (shared/reference/iptables-layout.txt) "
        "restored inside `node` (iptables-nft), N extra published ports each adding a nat "
        "DOCKER DNAT, a filter DOCKER ACCEPT and a hairpin MASQUERADE rule, the measured "
        "port's rules in the middle. docker-proxy = Debian docker.io 20.10's binary, run in "
        "`node`. Hawser = `hawser daemon` in `node`, containers made with `hawser run`.",
        "- Load: `bench/loadgen.c` (epoll, one thread) for S2–S5/S8, iperf3 for throughput.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for name, measured, verdict in targets(rows):
        lines.append(f"| {name} | {measured} | **{verdict}** |")
    lines += ["", "## Results", ""]
    for sc in sorted({r.scenario for r in rows}):
        lines += _table(rows, sc)
        if Path(meta["plots_dir"], f"{sc.lower()}.png").exists():
            lines += [f"![{sc}](bench/plots/{sc.lower()}.png)", ""]
    if meta.get("errors"):
        lines += ["## Problems met during this run", ""]
        lines += [f"- {e}" for e in meta["errors"]]
        lines.append("")
    lines += [ANALYSIS_MARK, ""]
    if old_text and ANALYSIS_MARK in old_text:
        kept = old_text.split(ANALYSIS_MARK, 1)[1].strip()
        if kept:
            lines += [kept, ""]
    return "\n".join(lines)


def plots(rows: list[Row], out_dir: Path) -> list[Path]:
    """One bar chart per scenario: medians with min–max error bars; missing rows are labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for sc in sorted({r.scenario for r in rows}):
        mine = [r for r in rows if r.scenario == sc]
        metrics = [m for m, _ in METRICS[sc] if any(m in r.values for r in mine)][:2]
        if not metrics:
            metrics = [METRICS[sc][0][0]]
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
        colours = {
            "nonat": "#7f7f7f",
            "iptables": "#d62728",
            "docker": "#d62728",
            "hawser": "#1f77b4",
        }
        for ax, metric in zip(axes[0], metrics, strict=True):
            labels, meds, lo, hi, cols = [], [], [], [], []
            for r in mine:
                labels.append(r.config.replace(" N=", "\nN="))
                med = r.median(metric)
                sp = r.spread(metric)
                meds.append(med or 0.0)
                lo.append((med - sp[0]) if med is not None and sp else 0.0)
                hi.append((sp[1] - med) if med is not None and sp else 0.0)
                cols.append(colours.get(r.kind, "#2ca02c"))
            xs = range(len(labels))
            ax.bar(xs, meds, yerr=[lo, hi], color=cols, capsize=4)
            for x, r in zip(xs, mine, strict=True):
                if not r.values:
                    ax.text(x, 0, "not\nmeasured", ha="center", va="bottom", fontsize=8)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_ylabel(metric)
            ax.set_title(metric, fontsize=10)
        fig.suptitle(TITLES[sc], fontsize=9, wrap=True)
        fig.tight_layout()
        path = out_dir / f"{sc.lower()}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
