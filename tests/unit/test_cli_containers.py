"""Container commands (run, ps, inspect, rm, exec, logs, port) against the fake API."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fake_daemon import FakeDaemon, invoke

CID = "c9a13d6cc644" + "a" * 52
DB = "3341929632a6" + "b" * 52


def run_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": None,
        "Network": "bridge",
        "IP": None,
        "Hostname": None,
        "Dns": [],
        "Env": [],
        "Cmd": [],
        "Publish": [],
        "PublishAll": False,
        "Expose": [],
        "Links": [],
        "NetworkAliases": [],
        "AutoRemove": False,
        "Tty": False,
        "OpenStdin": False,
        "Labels": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "ExtraHosts": [],
        "DnsSearch": [],
        "DnsOptions": [],
        "MacAddress": None,
        "Sysctls": {},
        "Detach": True,
    }
    body.update(changes)
    return body


# --- run ---------------------------------------------------------------------------------


def test_run_detached_with_every_flag(fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_CLI", "inherited")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    fake.route("POST", "/v1/containers", status=201, body={"Id": CID, "Warnings": []})
    result = invoke(
        fake, "run", "-d", "--name", "web", "--network", "front", "--ip", "10.5.0.7",
        "-h", "webhost", "--dns", "10.5.0.1", "--dns", "1.1.1.1",
        "-e", "A=1", "--env", "FROM_CLI", "-e", "NOT_SET_ANYWHERE", "--rm",
        "-p", "8080:80", "--publish", "127.0.0.1::443/tcp", "-P", "--expose", "5432",
        "--link", "db:database", "--network-alias", "www",
        "sh", "-c", "echo hi; sleep 1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == CID + "\n"
    (req,) = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/containers")
    assert req.body == run_body(
        Name="web",
        Network="front",
        IP="10.5.0.7",
        Hostname="webhost",
        Dns=["10.5.0.1", "1.1.1.1"],
        Env=["A=1", "FROM_CLI=inherited"],
        Cmd=["sh", "-c", "echo hi; sleep 1"],
        Publish=["8080:80", "127.0.0.1::443/tcp"],
        PublishAll=True,
        Expose=["5432"],
        Links=["db:database"],
        NetworkAliases=["www"],
        AutoRemove=True,
        Detach=True,
    )


def test_run_without_command_is_a_detached_sandbox(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers", status=201, body={"Id": CID, "Warnings": []})
    result = invoke(fake, "run", "--name", "sb")
    assert result.exit_code == 0
    assert result.stdout == CID + "\n"
    assert fake.requests[0].body == run_body(Name="sb")
    assert len(fake.requests) == 1  # no logs, no wait


def test_run_double_dash_and_warnings(fake: FakeDaemon) -> None:
    fake.route(
        "POST",
        "/v1/containers",
        status=201,
        body={
            "Id": CID,
            "Warnings": ["Published ports are discarded when using host network mode"],
        },
    )
    result = invoke(fake, "run", "-d", "--network", "host", "-p", "80", "--", "ls", "-l")
    assert result.exit_code == 0
    assert result.stderr == "WARNING: Published ports are discarded when using host network mode\n"
    assert fake.requests[0].body["Cmd"] == ["ls", "-l"]


def test_run_create_failure_exits_125(fake: FakeDaemon) -> None:
    fake.error(
        "POST", "/v1/containers", 409, "Bind for 0.0.0.0:8080 failed: port is already allocated"
    )
    result = invoke(fake, "run", "-d", "-p", "8080:80", "sleep", "9")
    assert result.exit_code == 125
    assert result.stdout == ""
    assert result.stderr == (
        "Error response from daemon: Bind for 0.0.0.0:8080 failed: port is already allocated\n"
    )


def test_run_foreground_streams_output_and_exits_with_status(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers", status=201, body={"Id": CID, "Warnings": []})
    fake.route(
        "POST",
        f"/v1/containers/{CID}/start",
        stream=[
            {"stream": "stdout", "data": "hello\n"},
            {"stream": "stderr", "data": "oops\n"},
            {"stream": "stdout", "data": "bye"},
            {"exit": 3},
        ],
    )
    result = invoke(fake, "run", "--rm", "sh", "-c", "exit 3")
    assert result.exit_code == 3
    assert result.stdout == "hello\nbye"
    assert result.stderr == "oops\n"
    assert fake.requests[0].body == run_body(
        Cmd=["sh", "-c", "exit 3"], AutoRemove=True, Detach=False
    )
    start = [r for r in fake.requests if r.path.endswith("/start")]
    assert start[0].query == {"attach": "1"}


def test_run_foreground_that_cannot_start_reports_the_error(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers", status=201, body={"Id": CID, "Warnings": []})
    fake.error("POST", f"/v1/containers/{CID}/start", 409, "container x is already started")
    result = invoke(fake, "run", "--rm", "true")
    assert result.exit_code != 0
    assert "container x is already started" in result.stderr


# --- ps ----------------------------------------------------------------------------------


def listing(now: int) -> list[dict[str, Any]]:
    return [
        {
            "Id": CID,
            "Names": ["/web2"],
            "Command": "sleep 100000",
            "Created": now - 100,
            "State": "running",
            "Status": "Up About a minute",
            "RunningFor": "About a minute ago",
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 7000, "PublicPort": 32768, "Type": "tcp"}],
            "NetworkSettings": {"Networks": {"bridge": {}}},
        },
        {
            "Id": DB,
            "Names": ["/db", "/web2/database"],
            "Command": "python3 -m http.server 8000",
            "Created": now - 3,
            "State": "running",
            "Status": "Up 2 seconds",
            "RunningFor": "3 seconds ago",
            "Ports": [{"PrivatePort": 5432, "Type": "tcp"}],
            "NetworkSettings": {"Networks": {"front": {}, "back": {}}},
            "Owner": "docker",
        },
    ]


def test_ps_table_like_docker(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=listing(int(time.time())))
    result = invoke(fake, "ps")
    assert result.exit_code == 0, result.output
    assert fake.requests[0].query == {"all": "0"}
    # Docker's tab writer: columns at least 10 wide (IMAGE), 3 spaces of padding; Docker's
    # columns, then OWNER (who made it) because an engine's container is listed
    assert result.stdout.splitlines() == [
        "CONTAINER ID   IMAGE     COMMAND                  CREATED              STATUS              "
        "PORTS                     NAMES     OWNER",
        'c9a13d6cc644   -         "sleep 100000"           About a minute ago   Up About a minute   '
        "0.0.0.0:32768->7000/tcp   web2      hawser",
        '3341929632a6   -         "python3 -m http.ser…"   3 seconds ago        Up 2 seconds        '
        "5432/tcp                  db        docker",
    ]


def test_ps_table_is_dockers_exactly_without_engine_containers(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=listing(int(time.time()))[:1])
    lines = invoke(fake, "ps").stdout.splitlines()
    assert lines[0] == (
        "CONTAINER ID   IMAGE     COMMAND          CREATED              STATUS              "
        "PORTS                     NAMES"
    )
    assert lines[1].endswith("0.0.0.0:32768->7000/tcp   web2")


def test_ps_all_no_trunc_quiet(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=listing(int(time.time())))
    assert invoke(fake, "ps", "-a", "-q").stdout == f"{CID[:12]}\n{DB[:12]}\n"
    assert fake.requests[-1].query == {"all": "1"}
    assert invoke(fake, "ps", "-q", "--no-trunc").stdout == f"{CID}\n{DB}\n"
    out = invoke(fake, "ps", "--no-trunc").stdout.splitlines()
    assert out[2].startswith(DB + "   -         ")
    assert '"python3 -m http.server 8000"' in out[2]
    assert out[2].endswith("   db,web2/database   docker")


def test_ps_json(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=listing(int(time.time())))
    rows = [json.loads(line) for line in invoke(fake, "ps", "--format", "json").stdout.splitlines()]
    assert [r["ID"] for r in rows] == [CID[:12], DB[:12]]
    first = rows[0]
    assert first["Command"] == '"sleep 100000"'
    assert first["Image"] == "-"
    assert first["Names"] == "web2"
    assert first["Ports"] == "0.0.0.0:32768->7000/tcp"
    assert first["RunningFor"] == "About a minute ago"
    assert (first["State"], first["Status"]) == ("running", "Up About a minute")
    assert rows[1]["Networks"] == "back,front"
    # Docker's ContainerContext fields, in its (sorted) JSON order
    assert list(first) == [
        "Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names",
        "Networks", "Owner", "Ports", "RunningFor", "Size", "State", "Status",
    ]  # fmt: skip
    assert (first["Labels"], first["LocalVolumes"], first["Mounts"], first["Size"]) == (
        "", "0", "", "0B",
    )  # fmt: skip


def test_ps_ports_collapse_ranges(fake: FakeDaemon) -> None:
    ports = [
        {"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"}
        for p in (8000, 8001, 8002)
    ]
    item = dict(listing(int(time.time()))[0], Ports=ports)
    fake.route("GET", "/v1/containers", body=[item])
    row = json.loads(invoke(fake, "ps", "--format", "json").stdout)
    assert row["Ports"] == "0.0.0.0:8000-8002->8000-8002/tcp"


# --- inspect / rm --------------------------------------------------------------------------


def test_inspect_container_then_network_fallback(fake: FakeDaemon) -> None:
    container = {"Id": CID, "Name": "/web"}
    network = {"Id": DB, "Name": "front"}
    fake.route("GET", "/v1/containers/web", body=container)
    fake.error("GET", "/v1/containers/front", 404, "No such container: front")
    fake.route("GET", "/v1/networks/front", body=network)
    fake.error("GET", "/v1/containers/ghost", 404, "No such container: ghost")
    fake.error("GET", "/v1/networks/ghost", 404, "network ghost not found")
    result = invoke(fake, "inspect", "web", "front", "ghost")
    assert result.exit_code == 1
    assert result.stdout == json.dumps([container, network], indent=4) + "\n"
    assert result.stderr == "Error: No such object: ghost\n"


def test_inspect_other_daemon_error_is_not_masked(fake: FakeDaemon) -> None:
    fake.error("GET", "/v1/containers/web", 500, "store is locked")
    result = invoke(fake, "inspect", "web")
    assert result.exit_code == 1
    assert result.stdout == "[]\n"
    assert result.stderr == "Error response from daemon: store is locked\n"


@pytest.mark.parametrize(("flag", "force"), [([], "0"), (["-f"], "1")])
def test_rm(fake: FakeDaemon, flag: list[str], force: str) -> None:
    fake.route("DELETE", "/v1/containers/web", status=204)
    fake.route("DELETE", "/v1/containers/db", status=204)
    result = invoke(fake, "rm", *flag, "web", "db")
    assert result.exit_code == 0
    assert result.stdout == "web\ndb\n"
    assert [(r.method, r.path, r.query) for r in fake.requests] == [
        ("DELETE", "/v1/containers/web", {"force": force}),
        ("DELETE", "/v1/containers/db", {"force": force}),
    ]


def test_rm_running_without_force(fake: FakeDaemon) -> None:
    msg = (
        f"You cannot remove a running container {CID}. Stop the container before attempting "
        "removal or force remove"
    )
    fake.error("DELETE", "/v1/containers/web", 409, msg)
    fake.route("DELETE", "/v1/containers/db", status=204)
    result = invoke(fake, "rm", "web", "db")
    assert result.exit_code == 1
    assert result.stdout == "db\n"
    assert result.stderr == f"Error response from daemon: {msg}\n"


def test_kill_sends_the_signal_named(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers/web/kill", body={})
    fake.error("POST", "/v1/containers/db/kill", 409, "Container db is not running")
    result = invoke(fake, "kill", "-s", "TERM", "web", "db")
    assert result.exit_code == 1
    assert result.stdout == "web\n"
    assert result.stderr == "Error response from daemon: Container db is not running\n"
    assert [(r.path, r.query) for r in fake.requests] == [
        ("/v1/containers/web/kill", {"signal": "TERM"}),
        ("/v1/containers/db/kill", {"signal": "TERM"}),
    ]


# --- exec / logs ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 7, 127])
def test_exec_streams_and_exits_with_code(fake: FakeDaemon, code: int) -> None:
    fake.route(
        "POST",
        "/v1/containers/web/exec",
        stream=[
            {"stream": "stdout", "data": "out1\n"},
            {"stream": "stderr", "data": "err1\n"},
            {"exit": code},
        ],
    )
    result = invoke(fake, "exec", "-e", "X=1", "web", "--", "sh", "-c", "echo out1")
    assert result.exit_code == code
    assert result.stdout == "out1\n"
    assert result.stderr == "err1\n"
    assert fake.requests[0].body == {"Cmd": ["sh", "-c", "echo out1"], "Env": ["X=1"]}


def test_exec_without_double_dash_keeps_command_flags(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers/web/exec", stream=[{"exit": 0}])
    result = invoke(fake, "exec", "web", "ls", "-la", "--color")
    assert result.exit_code == 0
    assert fake.requests[0].body == {"Cmd": ["ls", "-la", "--color"], "Env": []}


def test_exec_errors(fake: FakeDaemon) -> None:
    fake.error("POST", "/v1/containers/stopped/exec", 409, "Container stopped is not running")
    result = invoke(fake, "exec", "stopped", "ls")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: Container stopped is not running\n"

    fake.route("POST", "/v1/containers/web/exec", stream=[{"stream": "stdout", "data": "x"}])
    result = invoke(fake, "exec", "web", "ls")
    assert result.exit_code == 1
    assert result.stderr == "Error: exec stream ended without an exit status\n"


@pytest.mark.parametrize(("flag", "follow"), [([], "0"), (["-f"], "1")])
def test_logs(fake: FakeDaemon, flag: list[str], follow: str) -> None:
    fake.route(
        "GET",
        "/v1/containers/web/logs",
        stream=[{"stream": "stdout", "data": "a\n"}, {"stream": "stderr", "data": "b\n"}],
    )
    result = invoke(fake, "logs", *flag, "web")
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("a\n", "b\n")
    assert fake.requests[0].query == {"follow": follow}


# --- port ----------------------------------------------------------------------------------

PORTS = {
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
    "5432/tcp": None,
}


def test_port_lists_mappings(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web", body={"NetworkSettings": {"Ports": PORTS}})
    result = invoke(fake, "port", "web")
    assert result.exit_code == 0
    assert result.stdout == "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n"


@pytest.mark.parametrize(
    ("private", "out"), [("80", "0.0.0.0:8080\n"), ("53/udp", "127.0.0.1:5353\n")]
)
def test_port_private(fake: FakeDaemon, private: str, out: str) -> None:
    fake.route("GET", "/v1/containers/web", body={"NetworkSettings": {"Ports": PORTS}})
    result = invoke(fake, "port", "web", private)
    assert result.exit_code == 0
    assert result.stdout == out


def test_port_not_published(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web", body={"NetworkSettings": {"Ports": PORTS}})
    result = invoke(fake, "port", "web", "5432/tcp")
    assert result.exit_code == 1
    assert result.stderr == "Error: no public port '5432/tcp' published for web\n"


def test_run_without_daemon_exits_125(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli.main import hawser

    monkeypatch.setenv("HAWSER_SOCKET", "/nonexistent/hawser-test.sock")
    result = CliRunner().invoke(hawser, ["run", "-d", "sleep", "1"])
    assert result.exit_code == 125
    assert result.stderr == (
        "Cannot connect to the Hawser daemon at unix:///nonexistent/hawser-test.sock. "
        "Is the daemon running?\n"
    )
