"""A node you can leave: the datapath survives a daemon stop whole, and ``hawser system reset``
takes everything Hawser put on the node away, leaving the node as it was before.

One node (its own netns; an uplink, and interfaces that are down or have no address, as an ifb
device used for traffic shaping would be), a daemon with a user network, containers on it and
on the default bridge, published ports (a range too) and a host-mode container.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from testbed import census, netns, procs
from testbed.hawser import HAWSER, HawserNode
from testbed.procs import PY
from testbed.wait import wait_for

SERVE = [PY, "-m", "http.server"]


def reset(
    node: HawserNode, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``hawser system reset`` in the node's netns, as root would type it there."""
    argv = procs.enter(
        node.node_ns, HAWSER, "--socket", str(node.socket), "system", "reset",
        "--node-name", node.name, "--state-dir", str(node.state_dir), *args,
    )  # fmt: skip
    return subprocess.run(argv, input=answer, capture_output=True, text=True, timeout=60)


def answers_http(ns: str, host: str, port: int) -> bool:
    return procs.http_get(f"http://{host}:{port}/", ns, timeout=3)[0] == 200


def test_stop_keeps_the_datapath_and_reset_leaves_the_node_as_before(tmp_path: Path) -> None:
    node = HawserNode(tmp_path)
    try:
        # not uplinks: shaper0 is up without an address, shaper1 down (as an ifb device is)
        netns.ip(node.node_ns, "link", "add", "shaper0", "type", "veth", "peer", "shaper1")
        netns.ip(node.node_ns, "link", "set", "shaper0", "up")
        wait_for(lambda: census.addresses_settled(node.node_ns), 10, "IPv6 DAD on the node")
        before = census.node_state(node.node_ns, node.name)
        # systemd's readiness protocol, with a fake service manager: READY=1 means the API
        # answers at once (the daemon is started as Type=notify is)
        manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        manager.bind(str(tmp_path / "notify.sock"))
        manager.settimeout(90)
        node.start(env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}, wait=False)
        ready = manager.recv(4096).decode().split("\n")
        assert ready[0] == "READY=1" and f"MAINPID={node.pid}" in ready, ready
        assert node.answers()

        # the default uplinks: up with an IPv4 address (uplink0), not shaper0
        running = census.node_state(node.node_ns, node.name)
        assert running["ip_forward"] == "1" != before["ip_forward"]  # reset must put it back
        progs = running["filters"]
        assert "uplink0 ingress bpf hawser_from_uplink" in " ".join(progs), progs
        assert not [f for f in progs if f.startswith("shaper")], progs

        node.cli("network", "create", "backend")
        tag = ("-e", census_marker(node))
        node.cli("run", "-d", "--name", "web", "--network", "backend", "-p", "8080:80",
                 "-p", "9000-9009:9000-9009", *tag, "--", *SERVE, "80")  # fmt: skip
        node.cli("run", "-d", "--name", "side", "-p", "8081:81", *tag, "--", *SERVE, "81")
        node.cli("run", "-d", "--name", "hostly", "--network", "host", *tag, "--", "sleep", "600")
        procs.wait_tcp(node.ext_ns, node.node_ip, 8080)
        procs.wait_tcp(node.ext_ns, node.node_ip, 8081)
        hooks = {int(h["id"]) for h in census.hooks_of(node.name)}
        assert len(hooks) == 4, hooks

        # a running daemon is never reset under its feet
        refused = reset(node, "-f")
        assert refused.returncode == 1, refused
        assert "is running" in refused.stderr and "stop it first" in refused.stderr
        assert len(node.cli("ps", "-q").stdout.split()) == 3

        # a clean stop keeps the whole datapath: served from outside AND from the node itself
        assert node.stop() == 0
        assert manager.recv(4096).decode().startswith("STOPPING=1")
        manager.close()
        assert {int(h["id"]) for h in census.hooks_of(node.name)} == hooks
        assert answers_http(node.ext_ns, node.node_ip, 8080)
        assert answers_http(node.node_ns, "127.0.0.1", 8080)  # the sock hooks, still there
        assert answers_http(node.node_ns, node.node_ip, 8081)

        # without -f it asks; anything but yes removes nothing
        declined = reset(node, answer="n\n")
        assert declined.returncode == 1, declined
        assert "Are you sure you want to continue? [y/N]" in declined.stdout
        assert "reset cancelled: nothing was removed" in declined.stderr
        assert {int(h["id"]) for h in census.hooks_of(node.name)} == hooks
        assert node.hawser_netns() and (node.state_dir / "hawser.db").exists()
        assert len(census.tagged_processes(census_marker(node))) >= 3  # they outlive the daemon

        done = reset(node, answer="y\n")
        assert done.returncode == 0, done
        after = census.node_state(node.node_ns, node.name)
        assert after == before, {k: (before[k], after[k]) for k in before if after[k] != before[k]}
        attached = {int(h["id"]) for h in census.attached()}
        assert not attached & hooks, "the node's socket hooks are still on the root cgroup"
        assert not answers_http(node.ext_ns, node.node_ip, 8080)
        assert not answers_http(node.node_ns, "127.0.0.1", 8080)
        assert not node.state_dir.exists() and not node.socket.exists()
        assert not census.tagged_processes(census_marker(node)), "a container's process lives"

        again = reset(node, "-f")
        assert again.returncode == 0 and "Nothing of node" in again.stdout, again
    finally:
        problems = node.close()
    assert not problems, problems


def census_marker(node: HawserNode) -> str:
    return f"HAWSER_TEST={node.name}"
