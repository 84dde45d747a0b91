"""``--restart``: the daemon restarts exited commands by policy, with Docker's back-off, and
keeps doing so across its own restarts (a kill -9 included)."""

from __future__ import annotations

import datetime
import os
import signal
from typing import Any

import pytest

from testbed.hawser import HawserNode
from testbed.wait import wait_for


@pytest.fixture(scope="module")
def node(shared_node: HawserNode) -> HawserNode:
    return shared_node


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def inspect(node: HawserNode, name: str) -> dict[str, Any]:
    return dict(node.json("inspect", name)[0])


def settled(node: HawserNode, name: str, status: str, restarts: int) -> dict[str, Any]:
    """Poll until the container has ``status`` after ``restarts`` restarts (its inspect)."""

    def reached() -> dict[str, Any] | None:
        found = inspect(node, name)
        done = found["State"]["Status"] == status and found["RestartCount"] == restarts
        return found if done else None

    found = wait_for(reached, 20, f"{name} {status} after {restarts} restarts")
    assert found is not None
    return found


def test_on_failure_retries_n_times_with_a_growing_back_off(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "flaky", "--restart", "on-failure:3", "--",
             "sh", "-c", "echo try; exit 2")  # fmt: skip
    node.cli("run", "-d", "--name", "fine", "--restart", "on-failure", "--", "true")
    done = settled(node, "flaky", "exited", 3)
    assert done["State"]["ExitCode"] == 2
    assert done["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert node.cli("logs", "flaky").stdout == "try\n" * 4  # the first run and three restarts
    # back-off 100 ms, 200 ms, 400 ms between the runs: at least 0.7 s from first to last
    took = parse_time(done["State"]["FinishedAt"]) - parse_time(done["Created"])
    assert took >= datetime.timedelta(milliseconds=700)
    fine = settled(node, "fine", "exited", 0)  # exit 0: on-failure leaves it be
    assert fine["State"]["ExitCode"] == 0


def test_always_restarts_until_stopped(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "loop", "--restart", "always", "--", "sh", "-c", "exit 0")
    wait_for(lambda: inspect(node, "loop")["RestartCount"] >= 2, 20, "two restarts")
    assert "loop" in node.cli("ps", "--filter", "name=loop", "--format", "{{.Names}}").stdout
    node.cli("stop", "loop")
    stopped = inspect(node, "loop")
    assert stopped["State"]["Status"] == "exited" and not stopped["State"]["Restarting"]
    count = stopped["RestartCount"]
    node.cli("run", "--rm", "--", "true")  # something else happens meanwhile
    assert inspect(node, "loop")["RestartCount"] == count
    refused = node.cli("run", "--rm", "--restart", "always", "--", "true", check=False)
    assert (refused.returncode, refused.stderr) == (
        125,
        "hawser: conflicting options: cannot specify both --restart and --rm.\n"
        "See 'hawser run --help'.\n",
    )
    unknown = node.cli("run", "-d", "--restart", "sometimes", "--", "true", check=False)
    assert unknown.returncode == 125
    assert unknown.stderr == (
        "Error response from daemon: invalid restart policy: unknown policy 'sometimes'; use "
        "one of 'no', 'always', 'on-failure', or 'unless-stopped'\n"
    )
    bad_count = node.cli("run", "-d", "--restart", "on-failure:x", "--", "true", check=False)
    assert bad_count.returncode == 125
    assert (
        "invalid restart policy format: maximum retry count must be an integer" in bad_count.stderr
    )
    only_on_failure = node.cli("run", "-d", "--restart", "always:2", "--", "true", check=False)
    assert "maximum retry count can only be used with 'on-failure'" in only_on_failure.stderr


def test_policies_survive_a_killed_daemon(node: HawserNode) -> None:
    for name, policy in (
        ("keep", "unless-stopped"),
        ("revive", "unless-stopped"),
        ("stopped", "unless-stopped"),
        ("always", "always"),
        ("plain", "no"),
    ):
        node.cli("run", "-d", "--name", name, "--restart", policy, "--", "sleep", "600")
    node.cli("stop", "stopped")
    node.cli("stop", "always")  # always: back at the daemon's next start, as with Docker
    before = {n: inspect(node, n)["State"]["Pid"] for n in ("keep", "revive", "plain")}
    node.kill()
    os.kill(before["revive"], signal.SIGKILL)  # exits while nobody watches
    os.kill(before["plain"], signal.SIGKILL)
    node.start()

    keep = inspect(node, "keep")
    assert keep["State"]["Running"] and keep["State"]["Pid"] == before["keep"]  # adopted
    # started again by the daemon's start-up, which resets the count (Docker's restore)
    revived = settled(node, "revive", "running", 0)
    assert revived["State"]["Pid"] not in (0, before["revive"])
    assert inspect(node, "stopped")["State"]["Status"] == "exited"
    assert settled(node, "always", "running", 0)["State"]["Pid"] != 0
    plain = inspect(node, "plain")
    assert (plain["State"]["Status"], plain["State"]["ExitCode"]) == ("exited", 137)
