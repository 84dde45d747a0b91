"""kill -9 of the daemon, then a restart: the kernel matches the store and flows live on."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from controller.rules.names import veth_name
from testbed.hawser import UPLINK_IP, HawserNode
from testbed.procs import LineReader

ECHO_SERVER = """
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 7000)); srv.listen()
print("READY", flush=True)
def serve(conn):
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""

# Sends a numbered line every 50 ms over one TCP connection and checks every echo. Prints one
# JSON record per echo: {"n": echoes so far, "after": echoes since the last "mark" on stdin,
# "t": CLOCK_MONOTONIC}. At EOF on stdin it prints {"done": true, ..., "max_gap": seconds
# between two consecutive echoes at most}; on a wrong or missing echo {"error": ...}, exit 1.
STEADY_CLIENT = """
import json, os, select, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
n = after = 0; marked = False; last = None; max_gap = 0.0
while True:
    if select.select([0], [], [], 0.05)[0]:
        data = os.read(0, 100)
        if not data:
            break
        marked, after = True, 0
    msg = f"{n}\\n".encode()
    try:
        s.sendall(msg)
        got = b""
        while not got.endswith(b"\\n"):
            chunk = s.recv(100)
            if not chunk:
                raise ConnectionError("closed by the server")
            got += chunk
        if got != msg:
            raise ValueError(f"echo {got!r} for {msg!r}")
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "n": n}), flush=True)
        sys.exit(1)
    now = time.monotonic()
    if last is not None:
        max_gap = max(max_gap, now - last)
    last, n = now, n + 1
    after += marked
    print(json.dumps({"n": n, "after": after, "t": now}), flush=True)
print(json.dumps({"done": True, "n": n, "after": after, "max_gap": max_gap}), flush=True)
"""
ECHOES_AFTER_RESTART = 40  # 2 s of echoes counted from the moment the daemon answered again


def _record(client: LineReader, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The client's next record satisfying ``until`` (its errors fail the test at once)."""
    lines = client.until(lambda line: "error" in line or until(json.loads(line)), 30)
    assert lines, "the steady client printed nothing within 30 s"
    record: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in record, record
    assert until(record), f"the steady client ended or stalled; its last record: {record}"
    return record


def _wait_logged(node: HawserNode, container: str, text: str, timeout: float = 15) -> None:
    """Poll the container's output until its process printed ``text`` (its readiness)."""
    deadline = time.monotonic() + timeout
    while text not in node.cli("logs", container).stdout:
        assert time.monotonic() < deadline, f"{container} never printed {text!r}"
        time.sleep(0.1)


def _http_ok(node: HawserNode, port: int) -> bool:
    got = node.in_ext("curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://{UPLINK_IP}:{port}/", check=False)  # fmt: skip
    return got.stdout == "200"


def test_kill_9_then_restart_rebuilds_removes_orphans_and_keeps_flows(node: HawserNode) -> None:
    node.cli("network", "create", "--subnet", "172.30.9.0/24", "appnet")
    node.cli("run", "-d", "--name", "web", "-p", "8080:8000", "--",
             "python3", "-m", "http.server", "8000")  # fmt: skip
    node.cli("run", "-d", "--name", "echo", "-p", "7000:7000", "--", "python3", "-c", ECHO_SERVER)
    node.cli("run", "-d", "--name", "app", "--network", "appnet")
    _wait_logged(node, "echo", "READY")
    for _ in range(50):
        if _http_ok(node, 8080):
            break
        time.sleep(0.1)
    assert _http_ok(node, 8080)
    links_before = sorted(node.hawser_links())
    netns_before = sorted(node.hawser_netns())
    app_endpoint = node.json("inspect", "app")[0]["NetworkSettings"]["Networks"]["appnet"]
    app_veth = veth_name(app_endpoint["EndpointID"])  # not on the echo flow's path
    assert app_veth in links_before

    client = subprocess.Popen(
        ["ip", "netns", "exec", node.ext_ns, "python3", "-c", STEADY_CLIENT, UPLINK_IP, "7000"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None
    records = LineReader(client.stdout)
    try:
        seen = _record(records, lambda r: r["n"] >= 1)  # the flow is up
        killed_at = time.monotonic()
        node.kill()
        # damage while the daemon is down: app's veth, an orphan netns, an orphan bridge
        node.in_node("ip", "link", "del", app_veth)
        orphan_ns = f"hw-{node.name}-0123456789ab"
        subprocess.run(["ip", "netns", "add", orphan_ns], check=True)
        node.in_node("ip", "link", "add", "hw-0123456789ab", "type", "bridge")
        # with no daemon at all, the datapath keeps echoing
        last = seen["n"]
        _record(records, lambda r: r["t"] > killed_at and r["n"] >= last + 10)
        node.start()
        downtime = time.monotonic() - killed_at  # until the API answered again
        client.stdin.write("mark\n")  # count the echoes from here
        client.stdin.flush()
        _record(records, lambda r: r["after"] >= ECHOES_AFTER_RESTART)
        client.stdin.close()
        done = _record(records, lambda r: "done" in r)
        assert client.wait(timeout=10) == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert done["after"] >= ECHOES_AFTER_RESTART
    # the flow never paused longer than the daemon was away (+1 s): it never depended on it
    assert done["max_gap"] < downtime + 1.0, (done, downtime)

    assert sorted(node.hawser_links()) == links_before
    assert sorted(node.hawser_netns()) == netns_before
    assert orphan_ns not in node.hawser_netns()
    assert sorted(node.cli("ps", "--format", "{{.Names}}").stdout.split()) == [
        "app",
        "echo",
        "web",
    ]
    assert _http_ok(node, 8080)
    node.cli("exec", "app", "--", "ping", "-c1", "-W2", "172.30.9.1")
    # nothing duplicated in the datapath either
    ports = node.jsonl("bpf", "ports", "--format", "json")
    assert sorted(p["host_port"] for p in ports) == [7000, 8080]


def test_drift_behind_the_daemons_back_is_repaired(node: HawserNode) -> None:
    node.stop()
    node.start("--resync-interval", "1")
    node.cli("network", "create", "--subnet", "172.30.8.0/24", "driftnet")
    node.cli("run", "-d", "--name", "drifter", "--network", "driftnet")
    node.cli("run", "-d", "--name", "pub", "-p", "8088:8000", "--",
             "python3", "-m", "http.server", "8000")  # fmt: skip
    bridge = "hw-" + node.json("network", "inspect", "driftnet")[0]["Id"][:12]
    links = sorted(node.hawser_links())
    veth = next(n for n in links if n.startswith("hwv"))
    node.in_node("ip", "link", "del", veth)
    node.in_node("ip", "link", "del", bridge)
    deadline = time.monotonic() + 15
    while sorted(node.hawser_links()) != links and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(node.hawser_links()) == links
    node.cli("exec", "drifter", "--", "ping", "-c1", "-W2", "172.30.8.1")
    for _ in range(50):
        if _http_ok(node, 8088):
            break
        time.sleep(0.1)
    assert _http_ok(node, 8088)
    assert "repaired kernel drift" in node.log()
