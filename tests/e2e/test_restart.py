"""kill -9 of the daemon, then a restart: the kernel matches the store and flows live on."""

from __future__ import annotations

import subprocess
import time

from tests.harness import UPLINK_IP, HawserNode

ECHO_SERVER = """
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 7000)); srv.listen()
def serve(conn):
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""

# Sends a numbered line every 50 ms over one TCP connection and checks every echo;
# prints "ok N" at the end or the first failure.
STEADY_CLIENT = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
end = time.monotonic() + float(sys.argv[3]); n = 0
while time.monotonic() < end:
    msg = f"{n}\\n".encode(); s.sendall(msg)
    got = b""
    while not got.endswith(b"\\n"):
        chunk = s.recv(100)
        if not chunk:
            print("closed at", n); sys.exit(1)
        got += chunk
    assert got == msg, (got, msg)
    n += 1; time.sleep(0.05)
print("ok", n)
"""


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
    for _ in range(50):
        if _http_ok(node, 8080):
            break
        time.sleep(0.1)
    assert _http_ok(node, 8080)
    links_before = sorted(node.hawser_links())
    netns_before = sorted(node.hawser_netns())

    client = subprocess.Popen(
        ["ip", "netns", "exec", node.ext_ns, "python3", "-c", STEADY_CLIENT, UPLINK_IP, "7000", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    node.kill()
    # damage while the daemon is down: a lost veth, an orphan netns, an orphan bridge
    victim = [n for n in node.hawser_links() if n.startswith("hwv")][0]
    node.in_node("ip", "link", "del", victim)
    orphan_ns = f"hw-{node.name}-0123456789ab"
    subprocess.run(["ip", "netns", "add", orphan_ns], check=True)
    node.in_node("ip", "link", "add", "hw-0123456789ab", "type", "bridge")
    time.sleep(1.0)
    node.start()

    out, _ = client.communicate(timeout=30)
    assert client.returncode == 0, out
    assert out.startswith("ok "), out
    assert int(out.split()[1]) > 60  # echoes kept flowing across the kill and restart

    assert sorted(node.hawser_links()) == links_before
    assert sorted(node.hawser_netns()) == netns_before
    assert orphan_ns not in node.hawser_netns()
    assert sorted(c.split()[-1] for c in node.cli("ps").stdout.splitlines()[1:]) == [
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
