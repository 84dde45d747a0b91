"""A truthful process model: ``State.Pid`` is the command itself, inside the sandbox (what
``nsenter -t PID -n`` needs), 0 once it exited; nothing outlives its container; a command
that is not found says so as Docker does; logs hold the process's own output only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from testbed.census import tagged_processes
from testbed.hawser import HawserNode
from testbed.wait import wait_for
from tests.e2e import census

ZERO_TIME = "0001-01-01T00:00:00Z"
NOT_FOUND = (
    'Error response from daemon: unable to start container process: exec: "nginx:alpine": '
    "executable file not found in $PATH\n"
)


@pytest.fixture(scope="module")
def hn(shared_node: HawserNode) -> HawserNode:
    return shared_node


def netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def test_pid_is_the_command_inside_the_sandbox(hn: HawserNode) -> None:
    hn.cli("run", "-d", "--name", "pidc", "--", "sleep", "601")
    ctr = hn.json("inspect", "pidc")[0]
    pid = ctr["State"]["Pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00601\x00"  # no wrapper
    sandbox = Path(ctr["NetworkSettings"]["SandboxKey"])
    assert netns_inode(pid) == sandbox.stat().st_ino
    assert netns_inode(pid) != netns_inode(hn.pid)  # positive control: the node's differs
    seen = hn.in_node("nsenter", "-t", str(pid), "-n", "ip", "-o", "-4", "addr", "show", "eth0")
    assert f"inet {ctr['NetworkSettings']['IPAddress']}/" in seen.stdout
    assert hn.cli("inspect", "-f", "{{.State.Pid}}", "pidc").stdout == f"{pid}\n"

    hn.cli("kill", "pidc")
    assert hn.cli("wait", "pidc").stdout == "137\n"
    st = hn.json("inspect", "pidc")[0]["State"]
    assert (st["Pid"], st["Running"], st["ExitCode"]) == (0, False, 137)
    assert st["FinishedAt"] not in ("", ZERO_TIME) and st["FinishedAt"] >= st["StartedAt"]


def _gone(pid: int) -> bool:
    """No such process, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _tagged(hn: HawserNode) -> dict[int, tuple[int, int] | None]:
    return tagged_processes(census.marker(hn))


def test_stop_and_rm_end_every_process_of_the_container(hn: HawserNode) -> None:
    tag = census.marker(hn)
    for name in ("stopped", "removed"):
        hn.cli("run", "-d", "--name", name, "-e", tag, "--",
               "sh", "-c", "sleep 602 & setsid sleep 603 & exec sleep 604")  # fmt: skip
        hn.cli("exec", "-d", "-e", tag, name, "sleep", "605")  # an exec'd process too
    netns = {n: hn.sandbox(n) for n in ("stopped", "removed")}

    def count(name: str) -> int:
        want = census.ns_id(f"/run/netns/{netns[name]}")
        return sum(1 for ns in _tagged(hn).values() if ns == want)

    wait_for(lambda: count("stopped") == 4 and count("removed") == 4, 10, "all eight sleeps")
    hn.cli("stop", "stopped")
    assert count("stopped") == 0 and count("removed") == 4  # positive control: the other's live
    hn.cli("rm", "-f", "removed")
    assert count("removed") == 0 and not any(_tagged(hn))


def test_what_the_command_leaves_behind_ends_with_it(hn: HawserNode) -> None:
    tag = census.marker(hn)
    hn.cli("run", "-d", "--name", "parent", "-e", tag, "--",
           "sh", "-c", "setsid sleep 606 & echo started; exec sleep 1000")  # fmt: skip
    hn.cli("run", "-d", "--name", "control", "-e", tag, "--", "sleep", "607")
    wait_for(lambda: "started" in hn.cli("logs", "parent").stdout, 10, "the child to start")
    orphan = [
        p for p in _tagged(hn) if Path(f"/proc/{p}/cmdline").read_bytes() == b"sleep\x00606\x00"
    ]
    assert len(orphan) == 1
    hn.cli("kill", "-s", "TERM", "parent")
    assert hn.cli("wait", "parent").stdout == "143\n"
    assert _gone(orphan[0])  # killed with its container's cgroup
    assert hn.json("inspect", "control")[0]["State"]["Running"]


def test_a_command_that_is_not_found_says_so_like_docker(hn: HawserNode) -> None:
    detached = hn.cli("run", "-d", "--name", "nf", "--", "nginx:alpine", check=False)
    assert (detached.returncode, detached.stdout, detached.stderr) == (127, "", NOT_FOUND)
    st = hn.json("inspect", "nf")[0]["State"]
    assert (st["Status"], st["ExitCode"], st["Pid"], st["StartedAt"]) == (
        "created",
        127,
        0,
        ZERO_TIME,
    )
    assert 'exec: "nginx:alpine": executable file not found in $PATH' in st["Error"]
    assert re.search(r"\bCreated\b", hn.cli("ps", "-a", "--filter", "name=nf").stdout)
    assert hn.cli("logs", "nf").stdout == hn.cli("logs", "nf").stderr == ""  # no wrapper text

    foreground = hn.cli("run", "--rm", "--name", "nf2", "--", "nosuch-cmd", "arg", check=False)
    assert foreground.returncode == 127
    assert foreground.stderr == NOT_FOUND.replace("nginx:alpine", "nosuch-cmd")
    assert hn.cli("ps", "-aq", "--filter", "name=nf2").stdout == ""  # --rm: gone
    denied = hn.cli("run", "--rm", "--", "/etc/hostname", check=False)
    assert denied.returncode == 126 and 'exec: "/etc/hostname": permission denied' in denied.stderr
    missing = hn.cli("run", "--rm", "--", "/no/such/file", check=False)
    assert missing.returncode == 127
    assert 'exec: "/no/such/file": stat /no/such/file: no such file or directory' in missing.stderr
    assert hn.cli("run", "--rm", "--", "true").returncode == 0  # positive control

    hn.cli("run", "-d", "--name", "execnf", "--", "sleep", "608")
    exe = hn.cli("exec", "execnf", "nosuch-cmd", check=False)
    assert exe.returncode == 127
    assert exe.stderr == (
        'unable to start container process: exec: "nosuch-cmd": executable file not found in '
        "$PATH\n"
    )


def test_logs_hold_the_process_output_with_times(hn: HawserNode) -> None:
    hn.cli("run", "-d", "--name", "mixed", "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert hn.cli("wait", "mixed").stdout == "5\n"
    mixed = hn.cli("logs", "mixed")  # each stream where it belongs (their order is the pipes')
    assert (mixed.stdout, mixed.stderr) == ("out\n", "err\n")

    hn.cli("run", "-d", "--name", "talker", "--",
           "sh", "-c", "echo one; printf 'three\\nfour\\n'; echo done")  # fmt: skip
    assert hn.cli("wait", "talker").stdout == "0\n"
    logs = hn.cli("logs", "talker")
    assert (logs.stdout, logs.stderr) == ("one\nthree\nfour\ndone\n", "")
    tail = hn.cli("logs", "--tail", "2", "talker")
    assert (tail.stdout, tail.stderr) == ("four\ndone\n", "")
    assert hn.cli("logs", "-n", "0", "talker").stdout == ""
    stamped = hn.cli("logs", "-t", "talker").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "three", "four", "done"]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    assert all(re.fullmatch(stamp, line.split(" ", 1)[0]) for line in stamped)
    first = stamped[0].split(" ", 1)[0]
    assert hn.cli("logs", "--since", "1m", "talker").stdout.count("\n") == 4
    assert hn.cli("logs", "--since", "2099-01-01T00:00:00Z", "talker").stdout == ""
    assert hn.cli("logs", "--until", "2000-01-01", "talker").stdout == ""
    assert hn.cli("logs", "--until", first, "talker").stdout.startswith("one\n")
    bad = hn.cli("logs", "--since", "yesterday", "talker", check=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        'invalid value for "since": failed to parse value as time or duration: "yesterday"\n',
    )
    follow = hn.cli("logs", "-f", "--tail", "1", "talker", timeout=30)
    assert follow.stdout == "done\n"  # an exited container: follow ends at once
