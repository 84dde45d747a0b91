"""Pure rules of the lifecycle: restart policies and their back-off, run's file-bound options,
the shim's PATH lookup and log records, the logs reader, ``--since`` parsing."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from cli import gotime
from controller.errors import InvalidArgument
from controller.kernel import logfile, shim
from controller.rules import restart, runopts, timestamps


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [
        ("sometimes", 0, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', "
                         "'always', 'on-failure', or 'unless-stopped'"),
        ("always", 2, "invalid restart policy: maximum retry count can only be used with "
                      "'on-failure'"),
        ("no", -1, "invalid restart policy: maximum retry count can only be used with "
                   "'on-failure' and cannot be negative"),
        ("on-failure", -1, "invalid restart policy: maximum retry count cannot be negative"),
    ],
)  # fmt: skip
def test_restart_policy_refusals(name: str, count: int, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        restart.validate(name, count)
    assert info.value.message == message


def test_restart_decisions() -> None:
    on_failure = restart.validate("on-failure", 2)
    assert restart.should_restart(on_failure, 1, False, 0)
    assert restart.should_restart(on_failure, 1, False, 1)
    assert not restart.should_restart(on_failure, 1, False, 2)  # its count is used up
    assert not restart.should_restart(on_failure, 0, False, 0)  # success
    unlimited = restart.validate("on-failure", 0)
    assert restart.should_restart(unlimited, 3, False, 1000)
    assert not restart.should_restart(restart.validate("unless-stopped", 0), 0, True, 0)
    assert restart.should_restart(restart.validate("unless-stopped", 0), 0, False, 0)
    assert restart.should_restart(restart.validate("always", 0), 0, True, 5)
    assert not restart.should_restart(restart.validate("", 0), 1, False, 0)


def test_back_off_doubles_to_a_minute_and_resets_after_ten_seconds() -> None:
    delays, delay = [], 0.0
    for _ in range(12):
        delay = restart.next_delay(delay, ran_seconds=0.5)
        delays.append(delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and delays[-1] == 60.0
    assert restart.next_delay(60.0, ran_seconds=10.0) == 0.1


@pytest.mark.parametrize(
    ("value", "stored"),
    [("db:10.0.0.2", "db:10.0.0.2"), ("db=10.0.0.2", "db:10.0.0.2"), ("v6:[::1]", "v6:::1"),
     ("v6:::1", "v6:::1"), ("gw:host-gateway", "gw:host-gateway")],
)  # fmt: skip
def test_extra_hosts_forms(value: str, stored: str) -> None:
    assert runopts.parse_extra_hosts([value]) == [stored]


@pytest.mark.parametrize(
    "value", ["nocolon", ":1.2.3.4", "a:b:1.2.3.4=", "a b:1.2.3.4", "a\n:1.1.1.1"]
)
def test_extra_hosts_refused(value: str) -> None:
    with pytest.raises(InvalidArgument, match="add-host"):
        runopts.parse_extra_host(value)


def test_dns_search_options_mac_and_sysctls() -> None:
    assert runopts.validate_dns_search("corp.example. ") == "corp.example"
    assert runopts.validate_dns_search(".") == "."
    for bad in ("123", "a b", "-a.com", "a.com\nnameserver 1.1.1.1"):
        with pytest.raises(InvalidArgument, match="is not a valid domain"):
            runopts.validate_dns_search(bad)
    assert runopts.validate_dns_option("ndots:2") == "ndots:2"
    with pytest.raises(InvalidArgument):
        runopts.validate_dns_option("ndots:2 rotate")
    assert runopts.validate_mac(" 02-AA-bb-cc-dd-ee ") == "02:aa:bb:cc:dd:ee"
    with pytest.raises(InvalidArgument, match="multicast"):
        runopts.validate_mac("01:00:5e:00:00:01")
    assert runopts.validate_sysctls({"net.ipv4.ip_forward": "1"}, "bridge") == {
        "net.ipv4.ip_forward": "1"
    }
    with pytest.raises(InvalidArgument, match="not allowed in host network namespace"):
        runopts.validate_sysctls({"net.ipv4.ip_forward": "1"}, "host")
    with pytest.raises(InvalidArgument, match="is not allowed"):
        runopts.validate_sysctls({"vm.swappiness": "1"}, "bridge")
    with pytest.raises(InvalidArgument, match="invalid sysctl name"):
        runopts.validate_sysctls({"net./etc/passwd": "1"}, "bridge")


def test_look_path_like_go(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert shim.look_path("tool", f"/nonexistent:{tmp_path}") == str(tool)
    assert shim.look_path(str(tool), "") == str(tool)
    cases = {
        "nginx:alpine": ('exec: "nginx:alpine": executable file not found in $PATH', 127),
        str(plain): (f'exec: "{plain}": permission denied', 126),
        str(tmp_path): (f'exec: "{tmp_path}": is a directory', 126),
        "/no/such": ('exec: "/no/such": stat /no/such: no such file or directory', 127),
    }
    for name, (message, code) in cases.items():
        with pytest.raises(shim.StartError) as info:
            shim.look_path(name, str(tmp_path))
        assert (info.value.message, info.value.code) == (message, code)
    with pytest.raises(shim.StartError):
        shim.look_path("tool", None)  # no PATH: nothing is searched


def test_log_records_and_tail(tmp_path: Path) -> None:
    assert shim.records("a\nb\r\npartial") == ["a\n", "b\r\n", "partial"]
    assert shim.records("progress\r50%\r") == ["progress\r50%\r"]  # only \n ends a line
    assert shim.rfc3339_nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    lines = [
        {"log": f"line{i}\n", "stream": "stdout", "time": f"2024-01-01T00:00:0{i}.000000000Z"}
        for i in range(5)
    ]
    (tmp_path / logfile.LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in lines))

    def read(**query: Any) -> list[str]:
        frames = logfile.read(tmp_path, logfile.LogQuery(**query), lambda: False)
        return [f["data"] for f in frames]

    assert read() == [f"line{i}\n" for i in range(5)]
    assert read(tail=2) == ["line3\n", "line4\n"]
    assert read(tail=0) == []
    assert read(since="2024-01-01T00:00:03.000000000Z") == ["line3\n", "line4\n"]
    assert read(until="2024-01-01T00:00:01.000000000Z") == ["line0\n", "line1\n"]
    assert timestamps.from_unix("1704067203.5") == "2024-01-01T00:00:03.500000000Z"
    # the API takes up to 12 digits of seconds: past year 9999 is later than any record
    assert timestamps.from_unix("253402300799") == "9999-12-31T23:59:59.000000000Z"
    assert timestamps.from_unix("453402300799.1") == "9999-12-31T23:59:59.999999999Z"


def test_since_values_as_docker_reads_them() -> None:
    now = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
    assert gotime.timestamp("42m", now) == str(int(now.timestamp()) - 42 * 60)
    assert gotime.timestamp("1h30m", now) == str(int(now.timestamp()) - 5400)
    assert gotime.timestamp("2024-01-01T10:00:00Z", now) == "1704103200.000000000"
    assert gotime.timestamp("2024-01-01T10:00:00.5+01:00", now) == "1704099600.500000000"
    assert gotime.timestamp("1704103200.25", now) == "1704103200.25"
    with pytest.raises(ValueError, match='failed to parse value as time or duration: "soon"'):
        gotime.timestamp("soon", now)


def test_exit_status_as_a_shell_reports_it() -> None:
    assert shim.exit_status(3 << 8) == 3  # exit(3)
    assert shim.exit_status(9) == 137  # killed by SIGKILL
    assert shim.exit_status(15) == 143
