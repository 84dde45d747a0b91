"""The scripting surface against the fake API: --format, --filter, -n/-l, inspect -f,
usage errors, --version, --socket after the subcommand, shell completion."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import hawser
from tests.fake_daemon import FakeDaemon, invoke

WEB = "c9a13d6cc644" + "a" * 52
DB = "3341929632a6" + "b" * 52
OLD = "4fa9e4e36c41" + "c" * 52
NET_FRONT = "7c749175428f" + "d" * 52
NET_BRIDGE = "0fb5e1ef8eca" + "e" * 52


def container(cid: str, name: str, state: str = "running", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Id": cid,
        "Names": ["/" + name],
        "Command": "sleep 100",
        "Created": int(time.time()) - 5,
        "State": state,
        "Status": "Up 5 seconds" if state == "running" else "Exited (3) 2 seconds ago",
        "RunningFor": "5 seconds ago",
        "Ports": [],
        "NetworkSettings": {"Networks": {"bridge": {"NetworkID": NET_BRIDGE}}},
    }
    item.update(extra)
    return item


def containers() -> list[dict[str, Any]]:
    """Newest first, as the API lists them; OLD has exited."""
    return [
        container(
            WEB,
            "web",
            Ports=[
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"PrivatePort": 443, "Type": "tcp"},
            ],
            Labels={"tier": "front", "team": "blue"},
            NetworkSettings={
                "Networks": {
                    "front": {"NetworkID": NET_FRONT},
                    "bridge": {"NetworkID": NET_BRIDGE},
                }
            },
        ),
        container(DB, "db", Ports=[{"PrivatePort": 5432, "Type": "tcp"}], Labels={"tier": "back"}),
        container(OLD, "webold", state="exited", Labels={"tier": "front"}),
    ]


def listed(fake: FakeDaemon, *args: str) -> Any:
    fake.route("GET", "/v1/containers", body=containers())
    return invoke(fake, "ps", *args)


# --- ps --format ---------------------------------------------------------------------------


def test_ps_format_one_field_per_line(fake: FakeDaemon) -> None:
    result = listed(fake, "--format", "{{.Names}}")
    assert result.exit_code == 0
    assert result.stdout == "web\ndb\n"


def test_ps_format_table_headers_come_from_the_fields(fake: FakeDaemon) -> None:
    result = listed(
        fake, "--format", 'table {{.ID}}\\t{{.Names}}\\t{{.Networks}}\\t{{.Label "tier"}}'
    )
    assert result.stdout.splitlines() == [
        "CONTAINER ID   NAMES     NETWORKS       tier",
        "c9a13d6cc644   web       bridge,front   front",
        "3341929632a6   db        bridge         back",
    ]


def test_ps_format_table_with_no_rows_prints_the_header(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=[])
    assert invoke(fake, "ps", "--format", "table {{.Names}}\t{{.Status}}").stdout == (
        "NAMES     STATUS\n"
    )
    assert invoke(fake, "ps", "--format", "{{.Names}}").stdout == ""


def test_ps_format_pipes_functions_and_json(fake: FakeDaemon) -> None:
    result = listed(
        fake, "--format", '{{.Names | upper}} {{json .Ports}} {{index (split .Networks ",") 0}}'
    )
    # json of a string escapes nothing (Docker's json function turns HTML escaping off)
    assert result.stdout == 'WEB "443/tcp, 0.0.0.0:8080->80/tcp" bridge\nDB "5432/tcp" bridge\n'
    rows = [json.loads(line) for line in listed(fake, "--format", "{{json .}}").stdout.splitlines()]
    assert [r["Names"] for r in rows] == ["web", "db"]
    assert rows[0]["Labels"] == "team=blue,tier=front"


def test_ps_format_raw_and_table_keywords(fake: FakeDaemon) -> None:
    raw = listed(fake, "--format", "raw").stdout
    assert raw.startswith(f'container_id: {WEB[:12]}\nimage: -\ncommand: "sleep 100"\n')
    assert "state: running\nstatus: Up 5 seconds\nnames: web\nlabels: team=blue,tier=front\n" in raw
    assert listed(fake, "--format", "table").stdout.splitlines()[0].split("   ")[:2] == [
        "CONTAINER ID",
        "IMAGE",
    ]


def test_ps_quiet_wins_over_a_custom_format_with_dockers_warning(fake: FakeDaemon) -> None:
    result = listed(fake, "-q", "--format", "{{.Names}}")
    assert result.stdout == f"{WEB[:12]}\n{DB[:12]}\n"
    assert result.stderr == (
        "WARNING: Ignoring custom format, because both --format and --quiet are set.\n"
    )


def test_ps_unknown_field_is_dockers_error_before_any_request(fake: FakeDaemon) -> None:
    result = invoke(fake, "ps", "--format", "{{.Foo}}")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        'failed to execute template: template: :1:2: executing "" at <.Foo>: '
        "can't evaluate field Foo in type *formatter.ContainerContext\n"
    )
    table = invoke(fake, "ps", "--format", "table {{.Names}}\\t{{.Foo}}")
    assert table.stderr.startswith('failed to execute template: template: :1:20: executing ""')
    assert fake.requests == []


def test_ps_template_that_does_not_parse(fake: FakeDaemon) -> None:
    result = invoke(fake, "ps", "--format", "{{.Names")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "failed to parse template: template: :1: unclosed action\n"


# --- ps --filter, -n, -l -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (["name=web"], ["web"]),  # running only: webold has exited
        (["name=^web$"], ["web"]),
        (["name=e"], ["web"]),  # a regular expression found anywhere in the name
        (["name=/db"], ["db"]),  # names match with or without their slash
        (["name=db", "name=web"], ["web", "db"]),  # one key: OR
        ([f"id={DB[:5]}"], ["db"]),  # an id prefix
        (["id=a" * 3], []),  # not a prefix of any id
        (["label=tier"], ["web", "db"]),
        (["label=tier=front"], ["web"]),
        (["label=tier=front", "label=team=blue"], ["web"]),  # labels: all must hold
        (["label=tier=front", "label=team=red"], []),
        (["network=front"], ["web"]),
        ([f"network={NET_BRIDGE[:6]}"], ["web", "db"]),  # a network id prefix
        (["publish=8080"], ["web"]),
        (["publish=80"], []),
        (["expose=80/tcp"], ["web"]),
        (["expose=443"], ["web"]),
        (["expose=5000-6000"], ["db"]),
        (["publish=8080", "expose=5432"], ["web", "db"]),  # publish and expose: OR
        (["status=running", "name=web"], ["web"]),  # different keys: AND
        (["status=exited"], ["webold"]),  # a status filter lists stopped containers
        (["status=exited", "status=running"], ["web", "db", "webold"]),
        (["exited=3"], []),  # exited implies nothing about -a
        (["before=db"], []),  # older than db and running: none
        (["since=webold"], ["web", "db"]),
        (["NAME = web "], ["web"]),  # keys lower-cased, both sides trimmed
    ],
)
def test_ps_filter(fake: FakeDaemon, filters: list[str], names: list[str]) -> None:
    args = [a for f in filters for a in ("--filter", f)]
    result = listed(fake, *args, "--format", "{{.Names}}")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == names
    assert fake.requests[-1].query == {"all": "1"}  # stopped ones are filtered here


def test_ps_filter_with_all(fake: FakeDaemon) -> None:
    result = listed(fake, "-a", "-f", "name=web", "-f", "exited=3", "--format", "{{.Names}}")
    assert result.stdout == "webold\n"
    assert listed(fake, "-a", "--filter", "before=db", "--format", "{{.Names}}").stdout == (
        "webold\n"
    )


@pytest.mark.parametrize(
    ("flag", "message", "code"),
    [
        ("foo=bar", "Error response from daemon: Invalid filter 'foo'", 1),
        ("status=sleeping", "Error response from daemon: Invalid filter 'status=sleeping'", 1),
        ("exited=x", 'Error response from daemon: strconv.Atoi: parsing "x": invalid syntax', 1),
        (
            "publish=0.0.0.0:80",
            "Error response from daemon: filter for 'publish' should not contain ':': 0.0.0.0:80",
            1,
        ),
        ("before=ghost", "Error response from daemon: No such container: ghost", 1),
        (
            "noequals",
            'invalid argument "noequals" for "-f, --filter" flag: '
            "bad format of filter (expected name=value)\nSee 'hawser ps --help'.",
            125,
        ),
    ],
)
def test_ps_bad_filters(fake: FakeDaemon, flag: str, message: str, code: int) -> None:
    result = listed(fake, "--filter", flag)
    assert (result.exit_code, result.stdout) == (code, "")
    assert result.stderr == message + "\n"


def test_ps_last_and_latest_include_stopped_containers(fake: FakeDaemon) -> None:
    assert listed(fake, "-n", "2", "--format", "{{.Names}}").stdout == "web\ndb\n"
    assert listed(fake, "-n", "3", "--format", "{{.Names}}").stdout == "web\ndb\nwebold\n"
    assert listed(fake, "--last", "1", "-q").stdout == f"{WEB[:12]}\n"
    assert listed(fake, "-l", "--format", "{{.Names}}").stdout == "web\n"
    assert listed(fake, "-n", "1", "-f", "name=old", "--format", "{{.Names}}").stdout == (
        "webold\n"
    )
    assert fake.requests[-1].query == {"all": "1"}
    bad = listed(fake, "-n", "two")
    assert bad.exit_code == 125
    assert bad.stderr == (
        'invalid argument "two" for "-n, --last" flag: strconv.ParseInt: parsing "two": '
        "invalid syntax\nSee 'hawser ps --help'.\n"
    )


# --- network ls ----------------------------------------------------------------------------


def network(name: str, nid: str, **extra: Any) -> dict[str, Any]:
    net: dict[str, Any] = {
        "Name": name,
        "Id": nid,
        "Created": "2026-11-22T11:16:15.354697276Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "Internal": False,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }
    net.update(extra)
    return net


def networks() -> list[dict[str, Any]]:
    return [
        network("bridge", NET_BRIDGE, Containers={WEB: {"Name": "web"}}),
        network("host", "1" * 64, Driver="host"),
        network("none", "2" * 64, Driver="null"),
        network("front", NET_FRONT, Labels={"env": "prod"}, Containers={WEB: {"Name": "web"}}),
        network("net10", "3" * 64, Internal=True),
        network("net2", "4" * 64, Labels={"env": "dev"}),
    ]


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ([], ["bridge", "front", "host", "net2", "net10", "none"]),  # natural order
        (["name=net"], ["net2", "net10"]),
        (["name=^net1"], ["net10"]),
        (["name=front", "name=host"], ["front", "host"]),
        ([f"id={NET_FRONT[:4]}"], ["front"]),
        (["driver=host"], ["host"]),
        (["driver=brid"], []),  # driver is matched exactly
        (["scope=local"], ["bridge", "front", "host", "net2", "net10", "none"]),
        (["label=env"], ["front", "net2"]),
        (["label=env=dev"], ["net2"]),
        (["type=custom"], ["front", "net2", "net10"]),
        (["type=builtin"], ["bridge", "host", "none"]),
        (["type=custom", "name=net"], ["net2", "net10"]),
        (["dangling=true"], ["net2", "net10"]),
        (["dangling=false"], ["bridge", "front", "host", "none"]),
    ],
)
def test_network_ls_filter(fake: FakeDaemon, filters: list[str], names: list[str]) -> None:
    fake.route("GET", "/v1/networks", body=networks())
    args = [a for f in filters for a in ("-f", f)]
    result = invoke(fake, "network", "ls", *args, "--format", "{{.Name}}")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == names


def test_network_ls_quiet_filter_and_format(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/networks", body=networks())
    assert invoke(fake, "network", "ls", "-q", "-f", "type=custom").stdout.split() == [
        NET_FRONT[:12],
        "4" * 12,
        "3" * 12,
    ]
    table = invoke(fake, "network", "ls", "-f", "label=env", "--format",
                   "table {{.Name}}\\t{{.Label \"env\"}}\\t{{.Internal}}\\t{{.CreatedAt}}")  # fmt: skip
    assert table.stdout.splitlines() == [
        "NAME      env       INTERNAL   CREATED AT",
        "front     prod      false      2026-11-22 11:16:15.354697276 +0000 UTC",
        "net2      dev       false      2026-11-22 11:16:15.354697276 +0000 UTC",
    ]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("color=red", "Invalid filter 'color'"),
        ("type=other", "invalid filter: 'type'='other'"),
        (
            "dangling=maybe",
            'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")',
        ),
    ],
)
def test_network_ls_bad_filters(fake: FakeDaemon, flag: str, message: str) -> None:
    fake.route("GET", "/v1/networks", body=networks())
    result = invoke(fake, "network", "ls", "--filter", flag)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error response from daemon: {message}\n"


def test_network_ls_unknown_field(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/networks", body=networks())
    result = invoke(fake, "network", "ls", "--format", "{{.Subnet}}")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        'template parsing error: template: :1:2: executing "" at <.Subnet>: '
        "can't evaluate field Subnet in type *network.networkContext\n"
    )


# --- inspect -f ----------------------------------------------------------------------------

INSPECT = {
    "Id": WEB,
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Pid": 4242},
    "Config": {"Labels": {"tier": "front"}},
    "Args": ["-c", "sleep 9"],
    "NetworkSettings": {
        "IPAddress": "172.17.0.2",
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "front": {"IPAddress": "10.1.0.2"}},
    },
}
NET = {
    "Name": "front",
    "Id": NET_FRONT,
    "Containers": {
        DB: {"Name": "db", "IPv4Address": "10.1.0.3/24"},
        WEB: {"Name": "web", "IPv4Address": "10.1.0.2/24"},
    },
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.NetworkSettings.IPAddress}}", "172.17.0.2\n"),
        ("{{.State.Pid}}", "4242\n"),
        ('{{index .Config.Labels "tier"}}', "front\n"),
        ('{{join .Args ","}}', "-c,sleep 9\n"),
        (
            "{{range $n, $s := .NetworkSettings.Networks}}{{$n}}={{$s.IPAddress}} {{end}}",
            "bridge=172.17.0.2 front=10.1.0.2 \n",
        ),  # fmt: skip
        ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', "8080\n"),
        ("{{json .State}}", '{"Status":"running","Running":true,"Pid":4242}\n'),
        ("{{if .State.Running}}up{{end}}", "up\n"),
    ],
)
def test_inspect_format(fake: FakeDaemon, template: str, expected: str) -> None:
    fake.route("GET", "/v1/containers/web", body=INSPECT)
    for flag in ("-f", "--format"):
        result = invoke(fake, "inspect", flag, template, "web")
        assert result.exit_code == 0, result.output
        assert result.stdout == expected


def test_inspect_format_each_object_and_json(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web", body=INSPECT)
    fake.error("GET", "/v1/containers/front", 404, "No such container: front")
    fake.route("GET", "/v1/networks/front", body=NET)
    assert invoke(fake, "inspect", "-f", "{{.Name}}", "web", "front").stdout == "/web\nfront\n"
    compact = invoke(fake, "inspect", "-f", "json", "web").stdout
    assert compact == json.dumps([INSPECT], separators=(",", ":")) + "\n"
    typed = invoke(fake, "inspect", "--type", "network", "-f", "{{.Name}}", "front")
    assert typed.stdout == "front\n"
    assert [r.path for r in fake.requests][-1:] == ["/v1/networks/front"]
    missing = invoke(fake, "inspect", "--type", "container", "front")
    assert missing.stderr == "Error: No such container: front\n"


def test_inspect_unknown_field_is_dockers_error(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web", body=INSPECT)
    result = invoke(fake, "inspect", "-f", "{{.Foo}}", "web")
    assert result.exit_code == 1
    assert result.stdout == "\n"  # Docker prints an empty line when nothing rendered
    assert result.stderr == (
        'template parsing error: template: :1:2: executing "" at <.Foo>: '
        'map has no entry for key "Foo"\n'
    )


def test_inspect_format_that_does_not_parse_exits_64(fake: FakeDaemon) -> None:
    result = invoke(fake, "inspect", "-f", "{{.Name", "web")
    assert (result.exit_code, result.stdout) == (64, "")
    assert result.stderr == "template parsing error: template: :1: unclosed action\n"
    assert fake.requests == []


def test_inspect_format_with_a_missing_object(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web", body=INSPECT)
    fake.error("GET", "/v1/containers/ghost", 404, "No such container: ghost")
    fake.error("GET", "/v1/networks/ghost", 404, "network ghost not found")
    result = invoke(fake, "inspect", "-f", "{{.Name}}", "web", "ghost")
    assert result.exit_code == 1
    assert result.stdout == "/web\n"
    assert result.stderr == "Error: No such object: ghost\n"


def test_network_inspect_format(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/networks/front", body=NET)
    fake.error("GET", "/v1/networks/ghost", 404, "network ghost not found")
    result = invoke(fake, "network", "inspect", "-f",
                    "{{range .Containers}}{{.IPv4Address}} {{end}}", "front")  # fmt: skip
    assert result.stdout == "10.1.0.3/24 10.1.0.2/24 \n"  # keyed by container id, in id order
    names = invoke(fake, "network", "inspect", "--format",
                   "{{range .Containers}}{{.Name}} {{end}}", "front", "ghost")  # fmt: skip
    assert names.exit_code == 1
    assert names.stdout == "db web \n"
    assert names.stderr == "Error: No such network: ghost\n"
    bad = invoke(fake, "network", "inspect", "-f", "{{.Containers.x}}", "front")
    assert bad.stderr == (
        'template parsing error: template: :1:13: executing "" at <.Containers.x>: '
        'map has no entry for key "x"\n'
    )


# --- port --format -------------------------------------------------------------------------


def test_port_format(fake: FakeDaemon) -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
    }
    fake.route("GET", "/v1/containers/web", body={"NetworkSettings": {"Ports": ports}})
    plain = invoke(fake, "port", "web").stdout
    assert "80/tcp -> 0.0.0.0:8080" in plain
    result = invoke(fake, "port", "web", "--format", "{{.ContainerPort}} {{.HostIP}} {{.HostPort}}")
    assert result.stdout.splitlines() == [
        line.replace(" -> ", " ").replace("[::]", "::").rsplit(":", 1)[0]
        + " "
        + line.rsplit(":", 1)[1]
        for line in plain.splitlines()
    ]
    one = invoke(
        fake, "port", "web", "53/udp", "--format", "table {{.ContainerPort}}\\t{{.HostPort}}"
    )
    assert one.stdout == "CONTAINER PORT   HOST PORT\n53/udp           5353\n"


# --- command line: usage errors, --version, --socket, network rm -f ------------------------


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["ps", "--bogus"], 125, "unknown flag: --bogus\nSee 'hawser ps --help'.\n"),
        (["ps", "-x"], 125, "unknown shorthand flag: 'x' in -x\nSee 'hawser ps --help'.\n"),
        (
            ["network", "ls", "--format"],
            125,
            "flag needs an argument: --format\nSee 'hawser network ls --help'.\n",
        ),  # fmt: skip
        (["ps", "-n"], 125, "flag needs an argument: 'n' in -n\nSee 'hawser ps --help'.\n"),
        (["--bogus"], 125, "unknown flag: --bogus\nSee 'hawser --help'.\n"),
        (["frobnicate"], 1, "hawser: 'frobnicate' is not a hawser command.\nSee 'hawser --help'\n"),
    ],
)
def test_usage_errors_read_and_exit_like_dockers(
    fake: FakeDaemon, args: list[str], code: int, stderr: str
) -> None:
    result = invoke(fake, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", stderr)


def test_argument_count_errors_exit_1_with_the_usage(fake: FakeDaemon) -> None:
    result = invoke(fake, "inspect")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "\"hawser inspect\" requires at least 1 argument.\nSee 'hawser inspect --help'.\n\n"
        "Usage:  hawser inspect [OPTIONS] REFS...\n"
    )
    extra = invoke(fake, "ps", "web")
    assert (extra.exit_code, extra.stderr.splitlines()[0]) == (
        1,
        '"hawser ps" accepts no arguments.',
    )


def test_help_alone_exits_0() -> None:
    for args in ([], ["network"]):
        result = CliRunner().invoke(hawser, args)
        assert result.exit_code == 0
        assert "Commands:" in result.stdout


def test_version_flag() -> None:
    for flag in ("--version", "-v"):
        result = CliRunner().invoke(hawser, [flag])
        assert result.exit_code == 0
        assert result.stdout.startswith("Hawser version ")


def test_socket_after_the_subcommand(fake: FakeDaemon, tmp_path: Path) -> None:
    fake.route("GET", "/v1/networks", body=networks())
    fake.route("GET", "/v1/containers", body=containers())
    runner = CliRunner(env={"HAWSER_SOCKET": str(tmp_path / "nothing.sock")})
    for args in (
        ["network", "ls", "-q", "--socket", fake.socket_path],
        ["ps", "--socket", fake.socket_path, "-q"],
        ["network", "--socket", fake.socket_path, "ls", "-q"],
    ):
        result = runner.invoke(hawser, args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.strip()
    down = runner.invoke(hawser, ["network", "ls"])
    assert down.exit_code == 1
    assert "Is the daemon running?" in down.stderr


def test_network_rm_force_ignores_missing_networks(fake: FakeDaemon) -> None:
    fake.route("DELETE", "/v1/networks/a", status=204)
    fake.error("DELETE", "/v1/networks/ghost", 404, "network ghost not found")
    forced = invoke(fake, "network", "rm", "-f", "ghost", "a")
    assert (forced.exit_code, forced.stdout, forced.stderr) == (0, "a\n", "")
    plain = invoke(fake, "network", "rm", "ghost")
    assert (plain.exit_code, plain.stderr) == (
        1,
        "Error response from daemon: network ghost not found\n",
    )


# --- shell completion ----------------------------------------------------------------------


def complete(socket: str, words: str) -> list[str]:
    """Run click's real bash completion for ``words`` (the last one being completed)."""
    env = {
        "_HAWSER_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "HAWSER_SOCKET": socket,
    }
    result = CliRunner(env=env).invoke(hawser, [], prog_name="hawser")
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_of_container_and_network_names(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers", body=containers())
    fake.route("GET", "/v1/networks", body=networks())
    sock = fake.socket_path
    assert complete(sock, "hawser rm we") == ["web", "webold"]
    assert complete(sock, "hawser exec d") == ["db"]
    assert complete(sock, "hawser network inspect net") == ["net10", "net2"]
    assert complete(sock, "hawser network connect fr") == ["front"]
    assert complete(sock, "hawser network connect front w") == ["web", "webold"]
    assert complete(sock, "hawser run --network h") == ["host"]
    assert complete(sock, "hawser inspect f") == ["front"]
    assert {r.query.get("all") for r in fake.requests if r.path == "/v1/containers"} == {"1"}


def test_completion_uses_a_socket_named_on_the_line(fake: FakeDaemon, tmp_path: Path) -> None:
    fake.route("GET", "/v1/containers", body=containers())
    dead = str(tmp_path / "none.sock")
    assert complete(dead, f"hawser --socket {fake.socket_path} logs d") == ["db"]
    assert complete(dead, f"hawser logs --socket {fake.socket_path} d") == ["db"]


def test_completion_is_silent_when_the_daemon_is_down(tmp_path: Path) -> None:
    started = time.monotonic()
    assert complete(str(tmp_path / "none.sock"), "hawser rm w") == []
    assert complete(str(tmp_path / "none.sock"), "hawser network rm n") == []
    assert time.monotonic() - started < 5


# --- bpf tables ----------------------------------------------------------------------------


def test_bpf_table_go_template(fake: FakeDaemon) -> None:
    rows = [
        {"name": "hawser_ct", "entries": 12, "max_entries": 65536},
        {"name": "hawser_ports", "entries": 3, "max_entries": 4096},
    ]
    fake.route("GET", "/v1/bpf/maps", body=rows)
    plain = invoke(fake, "bpf", "maps", "--format", "{{.name}}={{.entries}}")
    assert plain.stdout == "hawser_ct=12\nhawser_ports=3\n"
    table = invoke(fake, "bpf", "maps", "--format", "table {{.name}}\\t{{.max_entries}}")
    assert table.stdout.splitlines() == [
        "NAME           MAX_ENTRIES",
        "hawser_ct      65536",
        "hawser_ports   4096",
    ]
    header = invoke(fake, "bpf", "maps").stdout.splitlines()[0].split()
    assert header[:4] == ["NAME", "TYPE", "ENTRIES", "CAPACITY"]  # the table's own columns
