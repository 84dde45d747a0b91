"""bpf tables, monitor, version/info, completion, the lazy daemon command, output helpers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main as cli_main
from cli import system as cli_system
from cli.bpf import MONITOR_BANNER, TRACE_OFF, format_event, human_size
from cli.output import ellipsis, go_quote, render_table, shown
from tests.fake_daemon import FakeDaemon, invoke

# --- bpf -----------------------------------------------------------------------------------

MAPS = [
    {"name": "hawser_ct", "type": "lru_hash", "entries": 8192, "capacity": 262144,
     "pressure": 0.03125, "pin_path": "/sys/fs/bpf/hawser/n/v4/hawser_ct"},
    {"name": "hawser_ports", "type": "hash", "entries": 3, "capacity": 65536,
     "pressure": 3 / 65536, "pin_path": "/sys/fs/bpf/hawser/n/v4/hawser_ports"},
    {"name": "hawser_stats", "type": "percpu_array", "entries": 512, "capacity": 512,
     "pressure": None, "pin_path": "/sys/fs/bpf/hawser/n/v4/hawser_stats"},
]  # fmt: skip


def test_bpf_maps_table_shows_pressure_as_a_percentage(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/maps", body=MAPS)
    result = invoke(fake, "bpf", "maps")
    assert result.exit_code == 0
    assert [line.split()[:5] for line in result.stdout.splitlines()] == [
        ["NAME", "TYPE", "ENTRIES", "CAPACITY", "PRESSURE"],
        ["hawser_ct", "lru_hash", "8192", "262144", "3.12%"],
        ["hawser_ports", "hash", "3", "65536", "<0.01%"],
        ["hawser_stats", "percpu_array", "512", "512", "/sys/fs/bpf/hawser/n/v4/hawser_stats"],
    ]
    # scripts get the raw fraction
    rows = [json.loads(line) for line in invoke(fake, "bpf", "maps", "--format", "json").stdout
            .splitlines()]  # fmt: skip
    assert rows == MAPS


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (1_500_000, "1.5MB"),
     (3 * 10**9, "3GB"), (None, "")],
)  # fmt: skip
def test_human_size_is_dockers(value: int | None, shown: str) -> None:
    assert human_size(value) == shown


HEADERS = {
    "ports": "PROTO HOST IP HOST PORT BACKEND IP BACKEND PORT CONTAINER IFNAME CONNS PACKETS BYTES",
    "nat": "PROTO SOURCE DESTINATION TO CONTAINER STATE IDLE",
    "policy": "SOURCE DESTINATION PROTO PORT",
    "endpoints": "CONTAINER NETWORK IP MAC IFNAME RX PACKETS RX BYTES TX PACKETS TX BYTES DROPPED",
    "stats": "DIRECTION REASON VERDICT PACKETS BYTES",
    "ct": "PROTO SOURCE DESTINATION BACKEND NAT SOURCE TYPE STATE PACKETS BYTES IDLE",
    "tunnel": "IP VNI NODE MAC NODE TX PACKETS NODE RX PACKETS",
}


@pytest.mark.parametrize("table", sorted(HEADERS))
def test_bpf_tables_print_their_header_when_empty(fake: FakeDaemon, table: str) -> None:
    fake.route("GET", f"/v1/bpf/{table}", body=[])
    result = invoke(fake, "bpf", table)
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1  # the header line, alone
    assert " ".join(result.stdout.split()) == HEADERS[table]
    assert invoke(fake, "bpf", table, "--format", "json").stdout == ""  # no row, no line
    assert [r.path for r in fake.requests] == [f"/v1/bpf/{table}"] * 2


def test_bpf_endpoints_bytes_human_in_the_table_raw_in_json(fake: FakeDaemon) -> None:
    row = {"container": "web", "network": "noicc", "ip": "172.18.0.2", "mac": "02:42:ac:12:00:02",
           "ifname": "hwvweb", "ifindex": 7, "rx_packets": 40, "rx_bytes": 123456,
           "tx_packets": 30, "tx_bytes": 999, "drop_packets": 2, "drop_bytes": 148}  # fmt: skip
    fake.route("GET", "/v1/bpf/endpoints", body=[row])
    lines = invoke(fake, "bpf", "endpoints").stdout.splitlines()
    assert lines[1].split() == [
        "web", "noicc", "172.18.0.2", "02:42:ac:12:00:02", "hwvweb", "40", "123kB", "30", "999B",
        "2",
    ]  # fmt: skip
    assert json.loads(invoke(fake, "bpf", "endpoints", "--format", "json").stdout) == row


def test_bpf_stats_all_in_query(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/stats", body=[])
    invoke(fake, "bpf", "stats")
    invoke(fake, "bpf", "stats", "--all")
    assert [r.query for r in fake.requests] == [{}, {"all": "1"}]


CT_ROW = {"proto": "tcp", "src": "10.99.0.2", "sport": 51234, "dst": "10.99.0.1", "dport": 8080,
          "backend": "172.18.0.2:80", "nat_src": "", "type": "dnat", "state": "established",
          "src_container": "", "dst_container": "web", "ifname": "hwvweb", "packets": 12,
          "bytes": 2048, "age_s": 3.0, "idle_s": 0.5}  # fmt: skip


def test_bpf_ct_shows_the_original_direction(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/ct", body=[CT_ROW])
    lines = invoke(fake, "bpf", "ct").stdout.splitlines()
    assert lines[1].split() == [
        "tcp", "10.99.0.2:51234", "10.99.0.1:8080", "172.18.0.2:80", "(web)", "dnat",
        "established", "12", "2.05kB", "0.5s",
    ]  # fmt: skip


def test_bpf_ct_filters_in_query(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/ct", body=[])
    result = invoke(fake, "bpf", "ct", "--addr", "10.0.0.2", "--port", "80", "--proto", "tcp")
    assert result.exit_code == 0
    assert result.stdout.split() == HEADERS["ct"].split()
    assert fake.requests[0].query == {"addr": "10.0.0.2", "port": "80", "proto": "tcp"}
    invoke(fake, "bpf", "ct")
    assert fake.requests[1].query == {}


def test_bpf_daemon_error(fake: FakeDaemon) -> None:
    fake.error("GET", "/v1/bpf/maps", 503, "datapath not loaded")
    result = invoke(fake, "bpf", "maps")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: datapath not loaded\n"


# --- monitor -------------------------------------------------------------------------------

DROP = {
    "time": "12:00:01.000100",
    "ifname": "hwv0a1b2c3d4e5",
    "proto": "tcp",
    "src": "172.18.0.2",
    "sport": 41000,
    "dst": "172.19.0.3",
    "dport": 80,
    "verdict": "drop",
    "reason": "network-isolation",
    "direction": "egress",
}


SUBSCRIBED = {"type": "subscribed", "time": 1.0}


def test_format_event() -> None:
    assert format_event(DROP) == (
        "12:00:01.000100 hwv0a1b2c3d4e5 drop network-isolation tcp "
        "172.18.0.2:41000 -> 172.19.0.3:80"
    )
    icmp = dict(DROP, proto="icmp", sport=None, dport=None, verdict="forward", reason=None)
    assert format_event(icmp).endswith("forward - icmp 172.18.0.2 -> 172.19.0.3")
    named = dict(DROP, src_container="cli", dst_container="web")
    assert format_event(named).endswith("tcp 172.18.0.2:41000 (cli) -> 172.19.0.3:80 (web)")


def test_monitor_json_lines(fake: FakeDaemon) -> None:
    event = dict(DROP, src_container="cli", dst_container="web")
    fake.route("GET", "/v1/monitor", stream=[SUBSCRIBED, event])
    result = invoke(fake, "monitor", "--format", "json")
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == [event]


def test_monitor_trace_rate_and_the_warning_when_tracing_is_off(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/monitor", stream=[dict(SUBSCRIBED, trace_sample_rate=0)])
    off = invoke(fake, "monitor", "--type", "trace")
    assert off.stderr.splitlines() == [MONITOR_BANNER, TRACE_OFF]
    fake.route("GET", "/v1/monitor", stream=[dict(SUBSCRIBED, trace_sample_rate=5)])
    on = invoke(fake, "monitor", "--type", "trace", "--trace-sample-rate", "5")
    assert on.stderr.splitlines() == [MONITOR_BANNER]  # positive control: no warning
    drops = invoke(fake, "monitor", "--type", "drop")  # drops come whatever the rate
    assert drops.stderr.splitlines() == [MONITOR_BANNER]
    assert [r.query for r in fake.requests] == [
        {"type": "trace"},
        {"type": "trace", "trace_sample_rate": "5"},
        {"type": "drop"},
    ]
    bad = invoke(fake, "monitor", "--trace-sample-rate", "-1")
    assert bad.exit_code == 125 and "--trace-sample-rate" in bad.stderr


def test_monitor_streams_lines_with_filters(fake: FakeDaemon) -> None:
    second = dict(DROP, sport=41001)
    heartbeat = {"type": "heartbeat", "time": 1.0}
    fake.route("GET", "/v1/monitor", stream=[SUBSCRIBED, DROP, heartbeat, second])
    result = invoke(fake, "monitor", "--type", "drop", "--container", "web")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [format_event(DROP), format_event(second)]
    assert fake.requests[0].query == {"type": "drop", "container": "web"}


def test_monitor_banner_only_after_the_subscription_is_acknowledged(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/monitor", stream=[SUBSCRIBED, DROP])
    acknowledged = invoke(fake, "monitor")
    assert acknowledged.stderr.splitlines() == [MONITOR_BANNER]
    assert acknowledged.stdout.splitlines() == [format_event(DROP)]
    fake.route("GET", "/v1/monitor", stream=[DROP])
    silent = invoke(fake, "monitor")
    assert silent.exit_code == 0 and silent.stderr == ""


def test_monitor_ctrl_c_exits_zero(fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    fake.route("GET", "/v1/monitor", stream=[DROP, lambda: hold.wait(5)])
    real_echo = click.echo
    seen: list[str] = []

    def echo_then_interrupt(message: object = None, **kw: object) -> None:
        real_echo(message, **kw)  # type: ignore[arg-type]
        seen.append(str(message))
        raise KeyboardInterrupt

    monkeypatch.setattr("cli.bpf.click.echo", echo_then_interrupt)
    try:
        result = invoke(fake, "monitor")
    finally:
        hold.set()
    assert result.exit_code == 0
    assert seen == [format_event(DROP)]
    assert result.stderr == ""


# --- version / info / completion / daemon ------------------------------------------------


INFO = {
    "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
    "Networks": 4, "ServerVersion": "0.1.0", "Version": "0.1.0", "Node": "node-a",
    "Name": "host-a", "KernelVersion": "6.1.0-13-amd64",
    "OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "OSType": "linux",
    "Architecture": "x86_64", "NCPU": 2, "MemTotal": 4093640704,
    "HawserRootDir": "/var/lib/hawser", "Socket": "/run/hawser/hawser.sock",
    "MetricsAddress": "127.0.0.1:9323", "Uplinks": ["eth0", "eth1"],
    "Datapath": {
        "PinPath": "/sys/fs/bpf/hawser/node-a/v4", "Maps": 18, "CompileSeconds": 1.62,
        "CgroupPath": "/sys/fs/cgroup", "TraceSampleRate": 0,
        "Programs": [
            {"Name": "hawser_from_uplink", "AttachPoint": "tc ingress", "Links": 2},
            {"Name": "hawser_connect4", "AttachPoint": "cgroup /sys/fs/cgroup", "Links": 0},
        ],
    },
    "ClusterStore": "etcd://10.0.0.1:2379", "ClusterAdvertise": "eth0",
    "Config": {"icc": True},
}  # fmt: skip


def test_version_and_info(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/info", body=INFO)
    out = invoke(fake, "version").stdout
    assert out.startswith("Client:\n Version:")
    assert "Server:\n Version:           0.1.0\n Node:              node-a\n" in out
    text = invoke(fake, "info").stdout
    assert text.startswith("Client:\n Version:    ")
    assert text.split("\n\n", 1)[1].splitlines() == [
        "Server:",
        " Containers: 3",
        "  Running: 1",
        "  Paused: 0",
        "  Stopped: 2",
        " Networks: 4",
        " Server Version: 0.1.0",
        " Node Name: node-a",
        " Uplinks: eth0, eth1",
        " Datapath: eBPF",
        "  Programs:",
        "   hawser_from_uplink: tc ingress of 2 link(s)",
        "   hawser_connect4: cgroup /sys/fs/cgroup",
        "  Maps: 18, pinned at /sys/fs/bpf/hawser/node-a/v4",
        "  Compile Time: 1.62s",
        "  Trace Sample Rate: off",
        " Cluster Store: etcd://10.0.0.1:2379",
        " Cluster Advertise: eth0",
        " Kernel Version: 6.1.0-13-amd64",
        " Operating System: Debian GNU/Linux 12 (bookworm)",
        " OSType: linux",
        " Architecture: x86_64",
        " CPUs: 2",
        " Total Memory: 3.812GiB",
        " Name: host-a",
        " Hawser Root Dir: /var/lib/hawser",
        " Socket: /run/hawser/hawser.sock",
        " Metrics Address: 127.0.0.1:9323",
    ]
    assert invoke(fake, "system", "info").stdout == text
    assert json.loads(invoke(fake, "info", "--format", "json").stdout) == INFO
    assert invoke(fake, "info", "-f", "{{.KernelVersion}} {{.Datapath.Maps}}").stdout == (
        "6.1.0-13-amd64 18\n"
    )
    bad = invoke(fake, "info", "-f", "{{.Nope}}")
    assert bad.exit_code != 0 and "Nope" in bad.stderr


def test_info_leaves_out_the_cluster_store_when_unset(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/info", body={k: v for k, v in INFO.items() if "Cluster" not in k})
    assert "Cluster" not in invoke(fake, "info").stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "_hawser_completion()"), ("zsh", "#compdef hawser"), ("fish", "complete --no-files")],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli_main.hawser, ["completion", shell])
    assert result.exit_code == 0
    assert marker in result.stdout
    assert "_HAWSER_COMPLETE" in result.stdout


def test_completion_bad_shell() -> None:
    # a bad argument (not a flag): Docker's exit code for it is 1, not cobra's 125
    result = CliRunner().invoke(cli_main.hawser, ["completion", "tcsh"])
    assert result.exit_code == 1
    assert result.stderr.endswith("See 'hawser completion --help'.\n")


def test_daemon_command_execs_hawserd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hawserd = tmp_path / "hawserd"
    hawserd.write_text("#!/bin/sh\n")
    calls: list[tuple[Path, list[str]]] = []
    monkeypatch.setattr(cli_main, "hawserd_path", lambda: hawserd)
    monkeypatch.setattr(cli_main.os, "execv", lambda path, argv: calls.append((path, argv)))
    runner = CliRunner()
    result = runner.invoke(
        cli_main.hawser, ["daemon", "--socket", "/s", "--state-dir", "/x", "--help"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [(hawserd, [str(hawserd), "--socket", "/s", "--state-dir", "/x", "--help"])]
    assert (
        "daemon      Run the Hawser node daemon (hawserd)"
        in runner.invoke(cli_main.hawser, ["--help"]).stdout
    )


def test_daemon_command_without_hawserd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli_main, "hawserd_path", lambda: tmp_path / "hawserd")
    result = CliRunner().invoke(cli_main.hawser, ["daemon"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path}/hawserd is missing: the daemon is installed with the client "
        "(make install)\n"
    )


def test_system_reset_execs_hawserd_reset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hawserd = tmp_path / "hawserd"
    hawserd.write_text("#!/bin/sh\n")
    calls: list[tuple[Path, list[str]]] = []
    monkeypatch.setattr(cli_system, "hawserd_path", lambda: hawserd)
    monkeypatch.setattr(cli_system.os, "execv", lambda path, argv: calls.append((path, argv)))
    runner = CliRunner()
    result = runner.invoke(
        cli_main.hawser, ["--socket", "/s", "system", "reset", "-f", "--node-name", "n1"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        (hawserd, [str(hawserd), "reset", "--force", "--node-name", "n1", "--socket", "/s"])
    ]
    calls.clear()
    runner.invoke(cli_main.hawser, ["system", "reset", "--socket", "/t"])  # after it: the same
    assert calls == [(hawserd, [str(hawserd), "reset", "--socket", "/t"])]
    monkeypatch.setattr(cli_system, "hawserd_path", lambda: tmp_path / "missing")
    missing = runner.invoke(cli_main.hawser, ["system", "reset", "-f"])
    assert missing.exit_code == 1 and "missing" in missing.stderr


def test_the_installed_hawserd_is_beside_hawser() -> None:
    assert cli_main.hawserd_path().is_file()  # make install made it; `hawser daemon` runs it


def test_main_entry_point_exit_code(fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.error("GET", "/v1/networks", 500, "boom")
    with pytest.raises(SystemExit) as info:
        cli_main.main(["--socket", fake.socket_path, "network", "ls"])
    assert info.value.code == 1


# --- output helpers --------------------------------------------------------------------------


def test_ellipsis_and_quote() -> None:
    assert ellipsis("short", 20) == "short"
    assert ellipsis("x" * 20, 20) == "x" * 20
    assert ellipsis("x" * 21, 20) == "x" * 19 + "…"
    assert go_quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert shown("=v") == "=v"
    assert shown("=\n") == '"=\\n"'
    assert shown("x" * 201) == '"' + "x" * 200 + '"…'


def test_render_table_three_space_gap_no_trailing_blanks() -> None:
    assert (
        render_table(["A", "LONGER"], [["xxxx", ""], ["y", "z"]]) == "A      LONGER\nxxxx\ny      z"
    )
