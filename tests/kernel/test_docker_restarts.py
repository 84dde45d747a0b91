"""Restarts under a real dockerd: Hawser's own (killed while dockerd runs) and dockerd's, with
``--live-restore`` off (stale endpoints are deleted through the plugin, restarted containers
join again) and on (containers keep running and keep their endpoints). Each ends with
Docker's removals and a census: nothing of Docker's is left in Hawser.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.hawser import EXT_IP, UPLINK_IP
from testbed.wait import wait_for
from tests.engine_support import (
    NOTHING_LEFT,
    DockerOnHawser,
    curl,
    httpd,
    leftovers,
    seen_as,
    wait_served,
)

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

WEB = f"http://{UPLINK_IP}:8080/cgi-bin/ip"


def start_pair(tmp_path: Path, *docker_args: str) -> DockerOnHawser:
    dh = DockerOnHawser(tmp_path, docker_args=docker_args)
    dh.start()
    dh.docker("network", "create", "-d", "hawser", "--ipam-driver", "hawser",
              "--subnet", "10.215.0.0/24", "net1")  # fmt: skip
    return dh


@pytest.fixture
def dh(tmp_path: Path) -> Iterator[DockerOnHawser]:
    pair = start_pair(tmp_path)
    try:
        yield pair
    finally:
        pair.close()


def endpoint_ids(dh: DockerOnHawser) -> dict[str, str]:
    """Hawser's containers (by name) → the endpoint each has on net1."""
    out = {}
    for row in dh.node.jsonl("ps", "-a", "--format", "json"):
        nets = dh.node.json("inspect", row["ID"])[0]["NetworkSettings"]["Networks"]
        out[row["Names"]] = nets["net1"]["EndpointID"]
    return out


def finish(dh: DockerOnHawser, *containers: str) -> None:
    """Docker removes its containers and network; Hawser keeps nothing of them."""
    dh.docker("rm", "-f", *containers)
    dh.docker("network", "rm", "net1")
    assert leftovers(dh.node) == NOTHING_LEFT
    assert dh.docker_netns() == []


def test_hawser_killed_and_restarted_under_a_running_dockerd(dh: DockerOnHawser) -> None:
    node = dh.node
    dh.docker("run", "-d", "--name", "web", "--network", "net1", "-p", "8080:80",
              "busybox", *httpd())  # fmt: skip
    dh.docker("run", "-d", "--name", "peer", "--network", "net1", "busybox", "sleep", "600")
    wait_served(node, WEB, seen_as(EXT_IP))
    dh.named("peer"), dh.named("web")
    before = endpoint_ids(dh)

    node.kill()  # kill -9: the pinned maps and attached programs stay
    assert curl(node, WEB) == seen_as(EXT_IP), "published port served while Hawser is down"
    node.start()
    assert curl(node, WEB) == seen_as(EXT_IP)
    web_ip = dh.ip_of("web")
    got = dh.docker("exec", "peer", "timeout", "5", "wget", "-qO-", f"http://{web_ip}/").stdout
    assert got == "busybox httpd\n"
    assert endpoint_ids(dh) == before  # Hawser's own state: Docker replayed nothing
    assert node.cli("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"

    # Docker's next calls succeed: a new container joins and publishes, then all goes
    out = dh.docker("run", "--rm", "--network", "net1", "busybox", "sh", "-c",
                    f"timeout 5 wget -qO- http://{web_ip}/cgi-bin/ip").stdout  # fmt: skip
    assert out.startswith("[::ffff:10.215.0.")
    dh.docker("run", "-d", "--name", "late", "--network", "net1", "-p", "8082:80",
              "busybox", *httpd())  # fmt: skip
    wait_served(node, f"http://{UPLINK_IP}:8082/cgi-bin/ip", seen_as(EXT_IP))
    finish(dh, "web", "peer", "late")


def kill_dockerd(dh: DockerOnHawser) -> None:
    """kill -9 of dockerd and of the containerd it started (the containers' shims live on,
    and so do dockerd's records of their endpoints: stale once it is back)."""
    assert dh.eng.proc is not None and dh.eng.ns is not None
    pidfile = Path(f"/proc/{dh.eng.ns.pid}/root/run/docker/containerd/containerd.pid")
    containerd = int(pidfile.read_text())
    os.kill(dh.eng.proc.pid, signal.SIGKILL)
    os.kill(containerd, signal.SIGKILL)
    dh.eng.proc.popen.wait(10)
    # an orphan is reaped by the machine's init: until then dockerd takes it for running
    wait_for(lambda: not Path(f"/proc/{containerd}").exists(), 10, "containerd to be reaped")


def test_dockerd_killed_and_restarted_without_live_restore(dh: DockerOnHawser) -> None:
    node = dh.node
    dh.docker("run", "-d", "--name", "web", "--restart", "always", "--network", "net1",
              "-p", "8080:80", "busybox", *httpd())  # fmt: skip
    dh.docker("run", "-d", "--name", "once", "--network", "net1", "busybox", "sleep", "600")
    wait_served(node, WEB, seen_as(EXT_IP))
    dh.named("web"), dh.named("once")
    before = endpoint_ids(dh)

    kill_dockerd(dh)
    dh.eng.start()  # its restore stops the containers it finds and deletes their endpoints

    def rejoined() -> dict[str, str] | None:
        now = endpoint_ids(dh)
        return now if set(now) == {"web"} and now["web"] != before["web"] else None

    now = wait_for(rejoined, 60, "web to rejoin with a new endpoint and once's to go")
    assert before["once"] not in now.values()
    wait_served(node, WEB, seen_as(EXT_IP))  # the restarted web, published again
    assert dh.docker("inspect", "-f", "{{.State.Running}}", "once").stdout == "false\n"
    eps = node.jsonl("bpf", "endpoints", "--format", "json")
    assert [e["ip"] for e in eps] == [dh.ip_of("web")]  # the stale one left the map too
    assert "lost its veth" not in node.log()  # Docker deleted them, Hawser did not reap them
    finish(dh, "web", "once")


def test_dockerd_restarted_with_live_restore(tmp_path: Path) -> None:
    dh = start_pair(tmp_path, "--live-restore")
    try:
        node = dh.node
        dh.docker("run", "-d", "--name", "web", "--network", "net1", "-p", "8080:80",
                  "busybox", *httpd())  # fmt: skip
        wait_served(node, WEB, seen_as(EXT_IP))
        dh.named("web")
        before = endpoint_ids(dh)
        assert dh.eng.proc is not None
        dh.eng.proc.stop(20)  # SIGTERM: with live-restore the container runs on
        assert curl(node, WEB) == seen_as(EXT_IP), "served while dockerd is down"
        dh.eng.start()
        assert dh.docker("inspect", "-f", "{{.State.Running}}", "web").stdout == "true\n"
        assert curl(node, WEB) == seen_as(EXT_IP)
        assert endpoint_ids(dh) == before  # the same endpoint: restored, not re-made
        finish(dh, "web")
    finally:
        dh.close()
