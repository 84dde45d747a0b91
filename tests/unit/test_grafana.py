"""The Grafana dashboard, provisioning and deploy/: valid, querying only what Hawser exports.

That every query returns data from a real Prometheus is proven by
tests/kernel/test_observability.py; here: structure, variables, metric names.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from controller.daemon.config import BY_NAME, PARAMETERS
from controller.plugins.observability.collector import Families
from controller.plugins.observability.operations import Operations
from controller.plugins.observability.server import DEFAULT_ADDRESS
from controller.plugins.overlay import metrics as overlay_metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana").rglob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "row"}
BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}


def exported_series() -> set[str]:
    """Every sample name the daemon can expose (counter → _total, histogram → _bucket…)."""
    families = list(Families().all()) + overlay_metrics.families()  # the cluster's too
    families += list(Operations(CollectorRegistry()).duration.collect())
    families += list(Operations(CollectorRegistry()).errors.collect())
    out = {"hawser_monitor_streams"}
    for f in families:
        if f.type == "counter":
            out.add(f.name + "_total")
        elif f.type == "histogram":
            out.update(f.name + s for s in ("_bucket", "_count", "_sum"))
        else:
            out.add(f.name)
    return out


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], list(dash["panels"])
    while stack:
        p = stack.pop(0)
        out.append(p)
        stack.extend(p.get("panels", []))
    return out


def exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dash) for t in p.get("targets", [])]


@pytest.fixture(params=DASHBOARDS, ids=lambda p: p.name)
def dash(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(json.loads(Path(request.param).read_text()))


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS, "grafana/ holds no dashboard JSON"


def test_dashboard_shape(dash: dict[str, Any]) -> None:
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels(dash):
        assert p["type"] in PANEL_TYPES, p["type"]
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}" and t["expr"].strip()


def test_panels_do_not_overlap(dash: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for p in panels(dash):
        g = p["gridPos"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, f"panel {p['title']!r} overlaps another"
        taken |= cells


def test_variables_are_defined(dash: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}"
            assert re.match(r"label_values\(", v["query"]["query"])
    used = {m for e in exprs(dash) for m in re.findall(r"\$\{?(\w+)", e)}
    for v in variables.values():
        if v["type"] == "query":
            used |= set(re.findall(r"\$\{?(\w+)", v["query"]["query"]))
    assert used - BUILTIN_VARS <= set(variables), used - BUILTIN_VARS - set(variables)
    assert {"instance", "container"} <= used


def test_queries_use_only_exported_metrics(dash: dict[str, Any]) -> None:
    exported = exported_series()
    texts = exprs(dash) + [
        v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"
    ]
    used = {m for e in texts for m in re.findall(r"\bhawser_\w+", e)}
    used -= {m for e in texts for m in re.findall(r'"(hawser_\w+)', e)}  # label values (map names)
    used -= {m for e in texts for m in re.findall(r'map_name=~?"([^"]*)"', e) for m in m.split("|")}
    assert used and used <= exported, used - exported
    for e in exprs(dash):
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}"), e
        assert not re.search(r"rate\([^\[]*\)", e.replace("$__", "")), f"range vector missing: {e}"


def test_dashboard_covers_the_required_views(dash: dict[str, Any]) -> None:
    text = " ".join(exprs(dash))
    for needed in (
        "hawser_forward_count_total",
        "hawser_drop_count_total",
        "by (reason",
        "hawser_port_bytes_total",
        "hawser_port_connections_total",
        "hawser_nat_entries",
        "hawser_bpf_map_pressure",
        "hawser_endpoint_rx_bytes_total",
        "hawser_endpoint_tx_bytes_total",
        "hawser_endpoint_drop_packets_total",
        "container_port",  # published ports per binding (a range is one series)
        "hawser_operation_duration_seconds_bucket",
        "hawser_operation_errors_total",
    ):
        assert needed in text, needed


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def test_provisioning() -> None:
    ds = _yaml("grafana/provisioning/datasources/hawser.yml")
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"].startswith("http")
    prov = _yaml("grafana/provisioning/dashboards/hawser.yml")
    provider = prov["providers"][0]
    assert prov["apiVersion"] == 1 and provider["type"] == "file" and provider["options"]["path"]


def test_prometheus_example_scrapes_the_default_address() -> None:
    cfg = _yaml("deploy/prometheus.yml")
    [job] = [j for j in cfg["scrape_configs"] if j["job_name"] == "hawser"]
    assert DEFAULT_ADDRESS in job["static_configs"][0]["targets"]
    assert BY_NAME["metrics_address"].default == DEFAULT_ADDRESS


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_example() -> None:
    r = subprocess.run(
        ["promtool", "check", "config", str(ROOT / "deploy/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((ROOT / "deploy/hawser.service").read_text())
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    exec_start = unit["Service"]["ExecStart"].replace("\\\n", " ")
    # the link `make install` makes (deploy/system.sh, default prefix /usr/local)
    assert exec_start.split()[0] == "/usr/local/bin/hawserd"
    assert 'PREFIX="${HAWSER_PREFIX:-/usr/local}"' in (ROOT / "deploy/system.sh").read_text()
    assert unit["Service"]["Type"] == "notify"
    flags = {p.flag for p in PARAMETERS}
    for flag in re.findall(r"(--[\w-]+)", exec_start):
        assert flag in flags, f"{flag} is not a daemon parameter"
    assert unit["Service"]["KillMode"] == "process"
