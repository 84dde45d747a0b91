"""Several daemons on one machine, each in its own node netns, do not interfere."""

from __future__ import annotations

import time
from pathlib import Path

from testbed.hawser import UPLINK_IP, HawserNode

WHO = "import socket;s=socket.socket();s.setsockopt(1,2,1);s.bind(('',80));s.listen()\n" \
      "while 1:\n c,_=s.accept();c.sendall(b'%s');c.close()"  # fmt: skip


def _fetch(node: HawserNode) -> str:
    for _ in range(50):
        got = node.in_ext("python3", "-c",
                          f"import socket;print(socket.create_connection(('{UPLINK_IP}',8080),2).recv(9).decode())",
                          check=False)  # fmt: skip
        if got.returncode == 0:
            return got.stdout.strip()
        time.sleep(0.1)
    return ""


def test_two_daemons_same_ports_same_names(tmp_path: Path) -> None:
    one = HawserNode(tmp_path / "one")
    two = HawserNode(tmp_path / "two")
    try:
        one.start()
        two.start()
        for node, word in ((one, "one"), (two, "two")):
            node.cli(
                "run", "-d", "--name", "web", "-p", "8080:80", "--", "python3", "-c", WHO % word
            )
        assert _fetch(one) == "one"
        assert _fetch(two) == "two"
        # each node's host-local access goes to its own container only (netns cookie)
        for node, word in ((one, "one"), (two, "two")):
            got = node.in_node("python3", "-c",
                               "import socket;print(socket.create_connection(('127.0.0.1',8080),2).recv(9).decode())")  # fmt: skip
            assert got.stdout.strip() == word
        assert one.hawser_netns() and not set(one.hawser_netns()) & set(two.hawser_netns())
        assert Path(f"/sys/fs/bpf/hawser/{one.name}").is_dir()
        assert Path(f"/sys/fs/bpf/hawser/{two.name}").is_dir()
        one.cli("rm", "-f", "web")
        assert _fetch(two) == "two"
        assert one.hawser_netns() == []
    finally:
        one.close()
        two.close()


def test_missing_prerequisite_stops_the_daemon_with_a_precise_message(tmp_path: Path) -> None:
    node = HawserNode(tmp_path)
    try:
        node.start("--cgroup-path", "/nonexistent/cgroup", wait=False)
        assert node.proc is not None
        assert node.proc.wait(timeout=60) != 0
        assert "/nonexistent/cgroup" in node.log()
        assert not node.socket.exists()
    finally:
        node.close()
