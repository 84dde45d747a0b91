"""Docker's lifecycle verbs through the CLI: create, start, stop, restart, wait, rm.

A stopped container keeps its sandbox: ``start`` runs its command again with the same
address and published ports. ``stop`` is SIGTERM, then SIGKILL for every process of the
container after the grace period.
"""

from __future__ import annotations

import re
import time
from typing import Any

from testbed.hawser import UPLINK_IP, HawserNode
from testbed.wait import wait_for

ZERO_TIME = "0001-01-01T00:00:00Z"


def state(node: HawserNode, name: str) -> dict[str, Any]:
    return dict(node.json("inspect", name)[0]["State"])


def logged(node: HawserNode, name: str, text: str, timeout: float = 15) -> None:
    wait_for(lambda: text in node.cli("logs", name).stdout, timeout, f"{name} to print {text!r}")


def http_status(node: HawserNode, port: int) -> str:
    got = node.in_ext("curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://{UPLINK_IP}:{port}/", check=False)  # fmt: skip
    return got.stdout


def test_stop_then_start_keeps_sandbox_address_and_published_port(shared_node: HawserNode) -> None:
    node = shared_node
    node.cli("run", "-d", "--name", "web", "-p", "8090:8000", "--",
             "python3", "-u", "-c", "import http.server as h; print('READY', flush=True); "
             "h.ThreadingHTTPServer(('', 8000), h.SimpleHTTPRequestHandler).serve_forever()")  # fmt: skip
    logged(node, "web", "READY")
    before = node.json("inspect", "web")[0]
    assert http_status(node, 8090) == "200"  # positive control: served

    stopped = node.cli("stop", "web")
    assert stopped.stdout == "web\n"
    after = node.json("inspect", "web")[0]
    assert after["State"]["Status"] == "exited" and not after["State"]["Running"]
    assert after["State"]["ExitCode"] == 143  # SIGTERM, as a shell reports it
    assert after["State"]["Pid"] == 0 and after["State"]["FinishedAt"] != ZERO_TIME
    assert http_status(node, 8090) != "200"
    assert re.search(r"Exited \(143\) .* ago", node.cli("ps", "-a", "--filter", "name=web").stdout)
    assert node.cli("stop", "web").stdout == "web\n"  # already stopped: no error, like Docker

    assert node.cli("start", "web").stdout == "web\n"
    logged(node, "web", "READY\nREADY")  # the command ran again (the log keeps the first run)
    again = node.json("inspect", "web")[0]
    assert again["State"]["Running"] and again["State"]["Pid"] not in (0, before["State"]["Pid"])
    assert again["NetworkSettings"]["SandboxKey"] == before["NetworkSettings"]["SandboxKey"]
    assert again["NetworkSettings"]["IPAddress"] == before["NetworkSettings"]["IPAddress"]
    assert http_status(node, 8090) == "200"
    assert node.cli("start", "web").stdout == "web\n"  # already running: no error


def test_stop_kills_what_ignores_sigterm_after_the_grace_period(shared_node: HawserNode) -> None:
    node = shared_node
    node.cli("run", "-d", "--name", "stubborn", "--",
             "sh", "-c", "trap '' TERM; echo READY; while :; do sleep 1; done")  # fmt: skip
    node.cli("run", "-d", "--name", "polite", "--", "sleep", "600")
    logged(node, "stubborn", "READY")
    started = time.monotonic()
    node.cli("stop", "-t", "1", "polite")  # positive control: SIGTERM suffices
    polite_took = time.monotonic() - started
    started = time.monotonic()
    node.cli("stop", "--time", "1", "stubborn")
    stubborn_took = time.monotonic() - started
    assert state(node, "polite")["ExitCode"] == 143 and polite_took < 1.0
    assert state(node, "stubborn")["ExitCode"] == 137  # SIGKILL after the grace
    assert 1.0 <= stubborn_took < 5.0


def test_create_start_wait_and_rm_of_a_stopped_container(shared_node: HawserNode) -> None:
    node = shared_node
    created = node.cli("create", "--name", "job", "--", "sh", "-c", "echo ran; exit 3")
    assert re.fullmatch(r"[0-9a-f]{64}\n", created.stdout)
    st = state(node, "job")
    assert (st["Status"], st["Running"], st["Pid"], st["StartedAt"]) == (
        "created",
        False,
        0,
        ZERO_TIME,
    )
    assert "Created" in node.cli("ps", "-a", "--filter", "name=job").stdout
    assert node.cli("logs", "job").stdout == ""  # made, not started

    node.cli("start", "job")
    assert node.cli("wait", "job").stdout == "3\n"
    assert node.cli("logs", "job").stdout == "ran\n"
    st = state(node, "job")
    assert (st["Status"], st["ExitCode"], st["Pid"]) == ("exited", 3, 0)
    assert st["FinishedAt"] != ZERO_TIME and st["FinishedAt"] >= st["StartedAt"]
    assert node.cli("rm", "job").stdout == "job\n"  # a stopped container goes without -f
    assert node.cli("ps", "-aq", "--filter", "name=job").stdout == ""


def test_restart_runs_a_new_process_in_the_same_sandbox(shared_node: HawserNode) -> None:
    node = shared_node
    node.cli("run", "-d", "--name", "again", "--", "sleep", "600")
    first = node.json("inspect", "again")[0]
    assert node.cli("restart", "-t", "1", "again").stdout == "again\n"
    second = node.json("inspect", "again")[0]
    assert second["State"]["Running"] and second["State"]["Pid"] != first["State"]["Pid"]
    assert second["NetworkSettings"]["IPAddress"] == first["NetworkSettings"]["IPAddress"]
    assert second["State"]["StartedAt"] > first["State"]["StartedAt"]


def test_lifecycle_refusals_say_what_docker_says(shared_node: HawserNode) -> None:
    node = shared_node
    node.cli("run", "-d", "--name", "busy", "--", "sleep", "600")
    refused = node.cli("rm", "busy", check=False)
    assert refused.returncode == 1
    cid = node.json("inspect", "busy")[0]["Id"]
    assert refused.stderr == (
        f"Error response from daemon: You cannot remove a running container {cid}. Stop the "
        "container before attempting removal or force remove\n"
    )
    for verb in ("stop", "restart", "wait", "start"):
        missing = node.cli(verb, "nosuch", check=False)
        assert missing.returncode == 1, verb
        assert "No such container: nosuch" in missing.stderr, (verb, missing.stderr)
    mixed = node.cli("start", "busy", "nosuch", check=False)
    assert (mixed.returncode, mixed.stdout) == (1, "busy\n")
    assert mixed.stderr.endswith("Error: failed to start containers: nosuch\n")
    waited = node.cli("stop", "busy", "nosuch", check=False)
    assert (waited.returncode, waited.stdout) == (1, "busy\n")
