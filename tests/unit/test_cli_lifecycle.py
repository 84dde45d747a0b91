"""Lifecycle commands and run's new flags against the fake API: what the CLI sends, what it
prints, its exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_daemon import FakeDaemon, invoke

CID = "c9a13d6cc644" + "a" * 52


def test_stop_restart_wait_send_dockers_requests(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers/web/stop", status=204)
    fake.route("POST", "/v1/containers/web/restart", status=204)
    fake.route("POST", "/v1/containers/web/wait", body={"StatusCode": 3})
    assert invoke(fake, "stop", "-t", "4", "web").stdout == "web\n"
    assert invoke(fake, "stop", "web").stdout == "web\n"
    assert invoke(fake, "restart", "--time", "0", "web").stdout == "web\n"
    assert invoke(fake, "wait", "web").stdout == "3\n"
    assert [(r.path, r.query) for r in fake.requests] == [
        ("/v1/containers/web/stop", {"t": "4"}),
        ("/v1/containers/web/stop", {}),
        ("/v1/containers/web/restart", {"t": "0"}),
        ("/v1/containers/web/wait", {}),
    ]
    both = invoke(fake, "stop", "-t", "1", "--time", "2", "web")
    assert both.exit_code == 1
    assert both.stderr == "conflicting options: cannot specify both --timeout and --time\n"


def test_create_sends_flags_and_prints_the_id(fake: FakeDaemon, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("A=1\n# comment\n\nB\n")
    fake.route("POST", "/v1/containers", status=201, body={"Id": CID, "Warnings": []})
    result = invoke(
        fake, "create", "--name", "c", "--net", "front", "-it", "--restart", "on-failure:5",
        "--add-host", "h=10.0.0.9", "--dns-search", "x.example", "--dns-opt", "ndots:2",
        "--mac-address", "02:00:00:00:00:09", "--env-file", str(env_file), "-l", "k=v",
        "--sysctl", "net.ipv4.ip_forward=1", "--", "sh",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, CID + "\n")
    body = fake.requests[0].body
    assert body["Detach"] is False and body["Network"] == "front"
    assert (body["Tty"], body["OpenStdin"]) == (True, True)
    assert body["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert body["ExtraHosts"] == ["h:10.0.0.9"] and body["DnsOptions"] == ["ndots:2"]
    assert body["DnsSearch"] == ["x.example"] and body["MacAddress"] == "02:00:00:00:00:09"
    assert body["Env"] == ["A=1"] and body["Labels"] == {"k": "v"}
    assert body["Sysctls"] == {"net.ipv4.ip_forward": "1"}


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["--restart", ":3"], "hawser: invalid restart policy format: no policy provided before "
                              "colon.\nSee 'hawser run --help'.\n"),
        (["--rm", "--restart", "always"], "hawser: conflicting options: cannot specify both "
                                          "--restart and --rm.\nSee 'hawser run --help'.\n"),
        (["--mac-address", "nope"], "hawser: nope is not a valid mac address.\n"
                                    "See 'hawser run --help'.\n"),
        (["--label", "a b=c"], 'invalid argument "a b=c" for "-l, --label" flag: label \'a b\' '
                               "contains whitespaces\n"),
        (["--sysctl", "vm.swappiness=1"], 'invalid argument "vm.swappiness=1" for "--sysctl" '
                                          "flag: sysctl 'vm.swappiness=1' is not allowed\n"),
    ],
)  # fmt: skip
def test_run_flag_mistakes_exit_125_before_any_request(
    fake: FakeDaemon, args: list[str], stderr: str
) -> None:
    result = invoke(fake, "run", "-d", *args, "--", "true")
    assert (result.exit_code, result.stderr) == (125, stderr)
    assert fake.requests == []


def test_logs_options_become_query_parameters(fake: FakeDaemon) -> None:
    fake.route("GET", "/v1/containers/web/logs", stream=[
        {"stream": "stdout", "data": "hi\n", "time": "2024-01-01T00:00:00.000000000Z"},
    ])  # fmt: skip
    result = invoke(fake, "logs", "-t", "--tail", "5", "--since", "1704067200", "web")
    assert result.stdout == "2024-01-01T00:00:00.000000000Z hi\n"
    assert fake.requests[0].query == {"follow": "0", "tail": "5", "since": "1704067200"}


def test_start_reports_each_failure_like_docker(fake: FakeDaemon) -> None:
    fake.route("POST", "/v1/containers/a/start", body={})
    fake.error("POST", "/v1/containers/b/start", 404, "No such container: b")
    result = invoke(fake, "start", "a", "b")
    assert (result.exit_code, result.stdout) == (1, "a\n")
    assert result.stderr == (
        "Error response from daemon: No such container: b\nError: failed to start containers: b\n"
    )


def test_ps_filters_keep_restarting_containers_as_docker_does() -> None:
    """A container waiting for its restart is Running for Docker's list: without -a a name
    filter still finds it; an exited one needs -a (the positive control)."""
    from cli import filters

    items = [
        {"Id": "a" * 64, "Names": ["/loop"], "State": "restarting"},
        {"Id": "b" * 64, "Names": ["/done"], "State": "exited"},
        {"Id": "c" * 64, "Names": ["/up"], "State": "running"},
    ]
    names = filters.parse(["name=o"])
    found = filters.filter_containers(items, names, False, -1)
    assert [i["Names"] for i in found] == [["/loop"]]
    everything = filters.filter_containers(items, names, True, -1)
    assert [i["Names"] for i in everything] == [["/loop"], ["/done"]]
