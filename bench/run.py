"""Hawser benchmarks — Hawser vs the no-NAT limit, Docker's iptables layout and docker-proxy.

    .venv/bin/python bench/run.py --quick   # smoke run, < 2 minutes, results in bench/results/
    .venv/bin/python bench/run.py --full    # < 15 minutes, writes BENCHMARKS.md + bench/plots/
    .venv/bin/python bench/run.py --full --scenario S2,S3

Every netns is named t-bench-<run>-<role> and removed at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import build, control, docker_proxy, proc, report  # noqa: E402
from bench.dataplane import N_SWEEP, SCENARIOS, Params, applies  # noqa: E402
from bench.hawser_driver import unavailable_reason  # noqa: E402
from bench.results import Row  # noqa: E402
from bench.variants import Hawser, Iptables, NoNat, Variant  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ALL = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]

MODES = {
    "quick": (
        Params(seconds=0.3, iperf_seconds=1, runs=5),
        control.ControlParams(range_ports=100, containers=20, runs=1),
    ),
    "full": (
        Params(seconds=1.5, iperf_seconds=2, runs=5),
        control.ControlParams(range_ports=1000, containers=200, runs=5),
    ),
}
S6_DOCKER_RUNS = {"quick": 1, "full": 5}


def label(scenario: str, v: Variant) -> str:
    if scenario == "S5":
        return {
            "nonat": "direct (container IP)",
            "iptables": "docker-proxy",
            "hawser": "Hawser sock hooks",
        }[v.kind]
    if scenario in ("S2", "S3"):
        return v.config_label()
    return v.label


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def dataplane(
    selected: list[str],
    params: Params,
    rows: list[Row],
    errors: list[str],
    hawser_reason: str | None,
    loadgen: str,
) -> None:
    scenarios = [s for s in selected if s in SCENARIOS]
    if not scenarios:
        return
    for cls in (NoNat, Iptables, Hawser):
        v = cls(loadgen)
        plan = [
            (n, s)
            for n in N_SWEEP
            for s in scenarios
            if applies(s, v.kind, n) and (v.kind != "nonat" or n == 0)
        ]
        if v.kind == "hawser" and hawser_reason:
            for n, s in plan:
                v.extra = n
                rows.append(Row(s, label(s, v), v.kind, n, note=f"not measured: {hawser_reason}"))
            continue
        log(f"setting up {v.label}")
        try:
            v.setup()
        except Exception as exc:  # noqa: BLE001 - report, continue with the other variants
            reason = f"set-up failed: {exc}"
            errors.append(f"{v.label}: {reason}")
            log(reason)
            for n, s in plan:
                v.extra = n
                rows.append(Row(s, label(s, v), v.kind, n, note=f"not measured: {reason[:300]}"))
            v.teardown()
            continue
        try:
            current = -1
            for n, s in plan:
                row = Row(s, "", v.kind, n)
                try:
                    if n != current:
                        log(f"{v.label}: {n} other published ports")
                        v.set_extra(n)
                        current = n
                    row.config = label(s, v)
                    for run in range(params.runs):
                        row.add(SCENARIOS[s](v, params, run))
                    log(
                        f"{s} {row.config}: "
                        + ", ".join(f"{k}={row.median(k):.1f}" for k in row.values)
                    )
                except proc.BenchError as exc:
                    v.extra = n
                    row.config = row.config or label(s, v)
                    row.note = f"failed: {str(exc)[:300]}"
                    errors.append(f"{s} {row.config}: {exc}")
                    log(f"{s} {row.config} failed: {exc}")
                rows.append(row)
        finally:
            v.teardown()


def control_plane(
    selected: list[str],
    mode: str,
    cp: control.ControlParams,
    rows: list[Row],
    errors: list[str],
    hawser_reason: str | None,
) -> None:
    if "S6" in selected:
        row = Row(
            "S6",
            f"Docker 20.10 way ({cp.range_ports} ports: iptables execs + docker-proxy)",
            "docker",
        )
        try:
            for run in range(S6_DOCKER_RUNS[mode]):
                log(f"S6 docker run {run + 1}")
                row.add(control.s6_docker(cp, run))
        except proc.BenchError as exc:
            row.note = f"failed: {str(exc)[:300]}"
            errors.append(f"S6 docker: {exc}")
        rows.append(row)
        hw_row = Row("S6", f"Hawser ({cp.range_ports}-port range, API)", "hawser")
        if hawser_reason:
            hw_row.note = f"not measured: {hawser_reason}"
        else:
            topo = hw = None
            try:
                topo, hw = control.s6_hawser_node(proc.RUN_ID[:3])
                for run in range(max(cp.runs, 5)):
                    hw_row.add(control.s6_hawser(hw, cp, run))
            except proc.BenchError as exc:
                hw_row.note = f"failed: {str(exc)[:300]}"
                errors.append(f"S6 Hawser: {exc}")
            finally:
                if hw is not None:
                    hw.stop()
                if topo is not None:
                    topo.destroy()
        log(f"S6 Hawser: {hw_row.values or hw_row.note}")
        rows.append(hw_row)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--quick", action="store_true", help="smoke run, under 2 minutes")
    g.add_argument("--full", action="store_true", help="full run, under 15 minutes")
    ap.add_argument("--scenario", default=",".join(ALL), help="comma list, e.g. S1,S2")
    ap.add_argument("--runs", type=int, help="runs per figure (default 5)")
    ap.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write BENCHMARKS.md and bench/plots/ (default: only with --full)",
    )
    args = ap.parse_args(argv)
    mode = "full" if args.full else "quick"
    selected = [s.strip().upper() for s in args.scenario.split(",") if s.strip()]
    unknown = [s for s in selected if s not in ALL]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)} (known: {', '.join(ALL)})")
    params, cp = MODES[mode]
    if args.runs:
        params = Params(params.seconds, params.iperf_seconds, args.runs)
        cp = control.ControlParams(cp.range_ports, cp.containers, args.runs)
    write_report = args.report if args.report is not None else mode == "full"

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rows: list[Row] = []
    errors: list[str] = []
    t0 = time.monotonic()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    try:
        loadgen = str(build.loadgen())
        docker_proxy.binary()
        hawser_reason = unavailable_reason()
        log(
            f"run {proc.RUN_ID}, mode {mode}, scenarios {','.join(selected)}; Hawser: "
            f"{'available' if not hawser_reason else 'not measured: ' + hawser_reason}"
        )
        dataplane(selected, params, rows, errors, hawser_reason, loadgen)
        control_plane(selected, mode, cp, rows, errors, hawser_reason)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        proc.cleanup()
        return 130
    except Exception:
        traceback.print_exc()
        proc.cleanup()
        return 1
    finally:
        proc.cleanup()
    elapsed = time.monotonic() - t0
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": mode,
        "runs": params.runs,
        "seconds": params.seconds,
        "iperf_seconds": params.iperf_seconds,
        "machine": report.machine(),
        "tools": tools(),
        "elapsed_s": round(elapsed, 1),
        "loadavg": f"{' '.join(load_start)} at start, "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} at end",
        "errors": errors,
        "plots_dir": str(HERE / "plots"),
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{mode}-{stamp}.json").write_text(
        json.dumps({"meta": meta, "rows": [r.to_json() for r in rows]}, indent=1)
    )
    if write_report:
        report.plots(rows, HERE / "plots")
        md_path = REPO / "BENCHMARKS.md"
        old = md_path.read_text() if md_path.exists() else None
        md_path.write_text(report.markdown(rows, meta, old))
    else:
        preview = out_dir / f"{mode}-{stamp}.md"
        preview.write_text(report.markdown(rows, {**meta, "plots_dir": str(out_dir)}, None))
        log(f"report preview: {preview}")
    for name, measured, verdict in report.targets(rows):
        log(f"target {name}: {measured} -> {verdict}")
    log(f"done in {elapsed:.0f} s; results in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
