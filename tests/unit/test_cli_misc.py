"""bpf tables, monitor, version/info, completion, the lazy daemon command, output helpers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main as cli_main
from cli.bpf import MONITOR_BANNER, format_event
from cli.output import ellipsis, go_quote, render_table, shown
from tests.fake_daemon import FakeDaemon, invoke

# --- bpf -----------------------------------------------------------------------------------

MAPS = [
    {
        "name": "hawser_ct",
        "type": "lru_hash",
        "max_entries": 65536,
        "entries": 12,
        "pressure": 0.0002,
    },
    {"name": "hawser_ports", "type": "hash", "max_entries": 4096, "entries": 3, "pinned": True},
]


def test_bpf_maps_generic_table(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/maps", body=MAPS)
    result = invoke(fake, "bpf", "maps")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "NAME           TYPE       MAX_ENTRIES   ENTRIES   PRESSURE   PINNED",
        "hawser_ct      lru_hash   65536         12        0.0002",
        "hawser_ports   hash       4096          3                    true",
    ]


@pytest.mark.parametrize("table", ["ports", "nat", "policy", "endpoints", "stats"])
def test_bpf_tables_hit_their_path_and_print_json(fake: FakeDaemon, table: str) -> None:
    rows = [{"key": f"{table}-1", "value": [1, 2]}, {"key": f"{table}-2", "value": None}]
    fake.route("GET", f"/v1/bpf/{table}", body=rows)
    result = invoke(fake, "bpf", table, "--format", "json")
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == rows
    table_out = invoke(fake, "bpf", table).stdout.splitlines()
    assert table_out[0].split() == ["KEY", "VALUE"]
    assert table_out[1].split() == [f"{table}-1", "[1,2]"]
    assert [r.path for r in fake.requests] == [f"/v1/bpf/{table}"] * 2


def test_bpf_ct_filters_in_query(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/bpf/ct", body=[])
    result = invoke(fake, "bpf", "ct", "--addr", "10.0.0.2", "--port", "80", "--proto", "tcp")
    assert result.exit_code == 0
    assert result.stdout == ""
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


def test_version_and_info(fake: FakeDaemon) -> None:
    info = {
        "Node": "node-a",
        "Version": "0.1.0",
        "StateDir": "/var/lib/hawser",
        "Uplinks": ["eth0", "eth1"],
        "Config": {"icc": True, "pools": ["172.17.0.0/16"]},
    }
    fake.route("GET", "/v1/info", body=info)
    out = invoke(fake, "version").stdout
    assert out.startswith("Client:\n Version:")
    assert "Server:\n Version:           0.1.0\n Node:              node-a\n" in out
    text = invoke(fake, "info").stdout.splitlines()
    assert text == [
        "Node: node-a",
        "Version: 0.1.0",
        "StateDir: /var/lib/hawser",
        "Uplinks: eth0, eth1",
        "Config:",
        " icc: true",
        ' pools: ["172.17.0.0/16"]',
    ]
    assert json.loads(invoke(fake, "info", "--format", "json").stdout) == info


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
