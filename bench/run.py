"""Hawser benchmarks — Hawser against the limit, Docker's routed path, Docker's iptables layout
and docker-proxy, every run checked for the path it claims.

    .venv/bin/python bench/run.py --quick   # validation run (~5 min), results in bench/results/
    .venv/bin/python bench/run.py --full    # ~26 min, writes BENCHMARKS.md + bench/plots/
    .venv/bin/python bench/run.py --full --scenario S2,S3

Every netns is named t-bench-<run>-<role> and removed at the end, also on Ctrl-C or failure.
The run fails (exit 1) when it is not clean afterwards: a program of its daemons still on the
root cgroup, a netns, a pin or a state folder left, or a daemon that needed SIGKILL.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    analysis,
    build,
    census,
    control,
    docker_proxy,
    overlay,
    overlay_scale,
    proc,
    report,
    selftest,
)
from bench.dataplane import SCENARIOS, Params  # noqa: E402
from bench.hawser_driver import unavailable_reason  # noqa: E402
from bench.results import Row  # noqa: E402
from bench.schedule import Table, dataplane  # noqa: E402
from bench.variants import Hawser, Iptables, Limit, NoNat, Variant  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ALL = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"]

MODES = {
    "quick": (
        Params(seconds=0.3, iperf_seconds=1, runs=5, sustained_seconds=6, interval=1),
        control.ControlParams(range_sizes=(100, 1000, 3000), containers=20, runs=5, docker_runs=1),
    ),
    "full": (
        Params(seconds=1.5, iperf_seconds=2, runs=5, sustained_seconds=60, interval=5),
        control.ControlParams(
            range_sizes=(1000, 10000, 30000), containers=200, runs=5, docker_runs=5
        ),
    ),
}
SELFTEST = Params(seconds=0.3, iperf_seconds=1, runs=1, sustained_seconds=0, interval=1)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def setup_variants(
    loadgen: str, hawser_reason: str | None, t: Table, scenarios: list[str]
) -> list[Variant]:
    ready: list[Variant] = []
    for cls in (Limit, NoNat, Iptables, Hawser):
        v = cls(loadgen)
        if v.kind == "hawser" and hawser_reason:
            t.note_all(v, scenarios, 0, f"not measured: {hawser_reason}")
            continue
        log(f"setting up {v.label}")
        try:
            v.setup()
        except Exception as exc:  # noqa: BLE001 - report, continue with the other variants
            t.errors.append(f"{v.label}: set-up failed: {exc}")
            log(f"{v.label}: set-up failed: {exc}")
            t.note_all(v, scenarios, 0, f"not measured: set-up failed: {str(exc)[:300]}")
            v.teardown()
            continue
        ready.append(v)
    return ready


def control_plane(
    selected: list[str], cp: control.ControlParams, t: Table, hawser_reason: str | None
) -> None:
    rows, errors = t.rows, t.errors
    if "S6" in selected:
        size = cp.range_sizes[0]
        row = Row(
            "S6",
            f"Docker 20.10 way ({size:,} ports: iptables execs + docker-proxy)",
            "docker",
            size,
        )
        try:
            for run in range(cp.docker_runs):
                log(f"S6 docker run {run + 1}")
                row.add(control.s6_docker(cp, run))
        except proc.BenchError as exc:
            row.note = f"failed: {str(exc)[:300]}"
            errors.append(f"S6 docker: {exc}")
        rows.append(row)
        s6_hawser(cp, t, hawser_reason)
    if "S7" in selected:
        row = Row("S7", f"Hawser ({cp.containers} containers, API)", "hawser")
        if hawser_reason:
            row.note = f"not measured: {hawser_reason}"
        else:
            try:
                for run in range(cp.runs):
                    row.add(control.s7_hawser(f"s7{proc.RUN_ID[:3]}", cp, run))
            except proc.BenchError as exc:
                row.note = f"failed: {str(exc)[:300]}"
                errors.append(f"S7 Hawser: {exc}")
        log(f"S7 Hawser: {row.values or row.note}")
        rows.append(row)


def s6_hawser(cp: control.ControlParams, t: Table, hawser_reason: str | None) -> None:
    large = cp.range_sizes[-1]
    hw_rows = [Row("S6", f"Hawser ({n:,}-port range, API)", "hawser", n) for n in cp.range_sizes]
    conflicts = [
        Row(
            "S6",
            f"Hawser: {large:,}-port range refused, conflict at its {pos} port",
            "hawser",
            large,
            f"conflict-{pos}",
        )
        for pos in control.POSITIONS
    ]
    t.rows.extend(hw_rows + conflicts)
    if hawser_reason:
        for r in hw_rows + conflicts:
            r.note = f"not measured: {hawser_reason}"
        return
    topo = hw = None
    current: Row | None = None
    try:
        topo, hw = control.s6_hawser_node(proc.RUN_ID[:3])
        for current, size in zip(hw_rows, cp.range_sizes, strict=True):
            for run in range(cp.runs):
                current.add(control.s6_hawser(hw, size, run))
            log(f"S6 {current.config}: wall_s {sorted(current.values['wall_s'])}")
        for run in range(cp.runs):  # interleaved positions
            for current, pos in zip(conflicts, control.POSITIONS, strict=True):
                values, problems = control.s6_conflict(hw, large, pos, run)
                current.add(values)
                current.problems += [f"run {run + 1}: {p}" for p in problems]
        for r in conflicts:
            log(f"S6 {r.config}: {sorted(r.values.get('conflict_s', []))} {r.problems[:1]}")
    except proc.BenchError as exc:
        for r in hw_rows + conflicts:
            if r is current or not r.values:
                r.note = r.note or f"failed: {str(exc)[:300]}"
        t.errors.append(f"S6 Hawser: {exc}")
    finally:
        if hw is not None:
            hw.close()
        if topo is not None:
            topo.destroy()


def tools() -> str:
    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    debs = sorted(docker_proxy.DOCKER_DIR.glob("docker.io_*.deb"))
    proxy = debs[-1].name.split("_")[1] if debs else "?"
    return (
        f"{first_line(['iperf3', '--version'])}; {first_line(['iptables', '--version'])}; "
        f"docker-proxy from docker.io {proxy}; {first_line(['gcc', '--version'])}"
    )


def measure_all(
    selected: list[str],
    mode: str,
    params: Params,
    cp: control.ControlParams,
    t: Table,
    meta: dict[str, Any],
) -> None:
    loadgen = str(build.loadgen())
    docker_proxy.binary()
    hawser_reason = unavailable_reason()
    log(
        f"run {proc.RUN_ID}, mode {mode}, scenarios {','.join(selected)}; Hawser: "
        f"{'available' if not hawser_reason else 'not measured: ' + hawser_reason}"
    )
    scenarios = [s for s in selected if s in SCENARIOS]
    variants: list[Variant] = []
    try:
        if scenarios:
            variants = setup_variants(loadgen, hawser_reason, t, scenarios)
            lines, errors = selftest.run(variants, SELFTEST)
            for line in lines:
                log(f"self-test: {line}")
            meta["selftest"] = lines
            t.errors.extend(errors)
            dataplane(selected, params, variants, t, sustained=True)
    finally:
        for v in reversed(variants):
            v.teardown()
    control_plane(selected, cp, t, hawser_reason)
    if "S9" in selected:
        if hawser_reason:
            t.errors.append(f"S9 not measured: {hawser_reason}")
        else:
            lines = overlay.run(loadgen, params, t.rows, t.errors, log)
            meta["selftest"] = [*meta.get("selftest", []), *lines]
            overlay_scale.run(params, t.rows, t.errors, log)


def write_outputs(rows: list[Row], meta: dict[str, Any], to_repo: bool, preview: Path) -> None:
    """BENCHMARKS.md and bench/plots/ (to_repo), else a preview next to the raw results."""
    sizes = tuple(int(n) for n in meta.get("s6_sizes", MODES[meta["mode"]][1].range_sizes))
    md_path = REPO / "BENCHMARKS.md"
    # Only a full run is compared with the report it replaces (quick figures are not comparable).
    old = md_path.read_text() if md_path.exists() and meta["mode"] == "full" else None
    if to_repo:
        report.plots(rows, HERE / "plots")
        md_path.write_text(report.markdown(rows, meta, old, sizes))
        log(f"wrote {md_path} and {HERE / 'plots'}")
    else:
        preview.write_text(
            report.markdown(rows, {**meta, "plots_dir": str(preview.parent)}, old, sizes)
        )
        log(f"report preview: {preview}")
    for tg in analysis.targets(rows, sizes):
        log(f"target {tg.name}: {tg.measured} -> {tg.verdict}")


def render(path: Path, to_repo: bool) -> int:
    """Rebuild the report from a saved results file (no measurement)."""
    data = json.loads(path.read_text())
    rows = [Row.from_json(r) for r in data["rows"]]
    write_outputs(rows, data["meta"], to_repo, path.with_suffix(".md"))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--quick", action="store_true", help="validation run, about 5 minutes")
    g.add_argument("--full", action="store_true", help="full run, about 26 minutes")
    g.add_argument("--render", type=Path, help="rebuild the report from a bench/results/*.json")
    ap.add_argument("--scenario", default=",".join(ALL), help="comma list, e.g. S1,S2")
    ap.add_argument("--runs", type=int, help="runs per figure (default 5)")
    ap.add_argument("--sustained", type=float, help="seconds of each sustained run (default 60)")
    ap.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write BENCHMARKS.md and bench/plots/ (default: only with --full)",
    )
    args = ap.parse_args(argv)
    if args.render:
        return render(args.render, bool(args.report))
    mode = "full" if args.full else "quick"
    selected = [s.strip().upper() for s in args.scenario.split(",") if s.strip()]
    unknown = [s for s in selected if s not in ALL]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)} (known: {', '.join(ALL)})")
    params, cp = MODES[mode]
    if args.runs:
        params = dataclasses.replace(params, runs=args.runs)
        cp = dataclasses.replace(cp, runs=args.runs)
    if args.sustained:
        params = dataclasses.replace(params, sustained_seconds=args.sustained)
    write_report = args.report if args.report is not None else mode == "full"

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    before = census.snapshot()
    rows: list[Row] = []
    errors: list[str] = []
    t = Table(rows, errors, log)
    meta: dict[str, Any] = {}
    t0 = time.monotonic()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    status = 0
    try:
        measure_all(selected, mode, params, cp, t, meta)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        status = 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        proc.cleanup()
    problems, notes = census.leftovers(before)
    for p in problems:
        log(f"NOT CLEAN: {p}")
    for n in notes:
        log(f"note: {n}")
    if status:
        return status
    elapsed = time.monotonic() - t0
    meta.update(
        {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "mode": mode,
            "runs": params.runs,
            "seconds": params.seconds,
            "iperf_seconds": params.iperf_seconds,
            "sustained_seconds": params.sustained_seconds,
            "client_cpu": proc.CLIENT_CPU,
            "server_cpu": proc.SERVER_CPU,
            "machine": report.machine(),
            "tools": tools(),
            "elapsed_s": round(elapsed, 1),
            "loadavg": f"{' '.join(load_start)} at start, "
            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} at end",
            "errors": errors,
            "clean": {"problems": problems, "notes": notes},
            "plots_dir": str(HERE / "plots"),
        }
    )
    meta["s6_sizes"] = list(cp.range_sizes)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{mode}-{stamp}.json").write_text(
        json.dumps({"meta": meta, "rows": [r.to_json() for r in rows]}, indent=1)
    )
    write_outputs(rows, meta, write_report, out_dir / f"{mode}-{stamp}.md")
    invalid = [r for r in rows if r.invalid]
    log(f"{len(invalid)} INVALID row(s); {len(errors)} problem(s); done in {elapsed:.0f} s")
    if problems:
        log("the run is NOT CLEAN (see above): failing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
