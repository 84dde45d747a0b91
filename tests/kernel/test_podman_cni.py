"""``hawser-cni`` against the real daemon: driven by Debian's podman 4.3 (CNI backend) and, the
way libcni drives a chain, by environment and stdin with ``loopback`` before it and
``tuning`` after it.

What is proven: a podman container on a Hawser network serves its published port to the
outside with the client's address kept, pods talk, ``hawser ps``/``port``/``inspect`` show them
(owner ``cni``), the state survives a Hawser restart, and ``podman rm -f`` / DEL leave nothing;
the CNI result (interfaces with MACs, IPs, routes, DNS) chains, CHECK compares, DEL repeats.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.plugins.cni import launcher
from testbed import servers
from testbed.engines import CNI_PLUGIN_DIR, PodmanEngine
from testbed.hawser import EXT_IP, REPO, UPLINK_IP, HawserNode
from testbed.shell import sh
from tests.engine_support import (
    NOTHING_LEFT,
    curl,
    httpd,
    leftovers,
    live_netns,
    seen_as,
    wait_served,
)

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

NET, SUBNET, GATEWAY = "hawsernet", "10.220.0.0/24", "10.220.0.1"


def cni_bin(tmp_path: Path) -> Path:
    """A test-local plugin dir holding this checkout's ``hawser-cni`` launcher, as ``make
    install`` writes it (the machine's /usr/lib/cni one belongs to whichever checkout last
    ran it)."""
    bin_dir = tmp_path / "cni-bin"
    launcher.install(bin_dir, str(REPO / ".venv" / "bin" / "python"), REPO)
    return bin_dir


@pytest.fixture
def node(tmp_path: Path) -> Iterator[HawserNode]:
    hn = HawserNode(tmp_path / "node")
    try:
        hn.start()
        hn.cli("network", "create", "--subnet", SUBNET, NET)
        yield hn
    finally:
        hn.close()


@pytest.fixture
def podman(node: HawserNode, tmp_path: Path) -> Iterator[PodmanEngine]:
    eng = PodmanEngine(node.node_ns, tmp_path / "p", node.tag,
                       plugin_dirs=[str(cni_bin(tmp_path))])  # fmt: skip
    try:
        eng.start()
        eng.import_busybox()
        eng.add_conflist(NET, [{"type": "hawser-cni", "socket": str(node.socket),
                                "capabilities": {"portMappings": True}}])  # fmt: skip
        yield eng
    finally:
        eng.close()


def test_podman_containers_on_a_hawser_network(node: HawserNode, podman: PodmanEngine) -> None:
    cid = podman.run("-d", "--name", "web", "--network", NET, "-p", "8080:80",
                     "localhost/busybox", *httpd())  # fmt: skip
    url = f"http://{UPLINK_IP}:8080/cgi-bin/ip"
    wait_served(node, url, seen_as(EXT_IP))

    [row] = node.jsonl("ps", "--format", "json")
    assert (row["ID"], row["Names"], row["Owner"]) == (cid[:12], "web", "cni")
    assert node.cli("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"
    fmt = f'{{{{(index .NetworkSettings.Networks "{NET}").IPAddress}}}} ' \
          f'{{{{(index .NetworkSettings.Networks "{NET}").MacAddress}}}}'  # fmt: skip
    ip, mac = podman.podman("inspect", "web", "--format", fmt).stdout.decode().split()
    ours = node.json("inspect", "web")[0]["NetworkSettings"]["Networks"][NET]
    assert (ip, mac) == (ours["IPAddress"], ours["MacAddress"])  # podman took Hawser's result

    # two pods talk; the second finds the first by name through Hawser's DNS on the gateway
    out = podman.run(
        "--rm",
        "--network",
        NET,
        "localhost/busybox",
        "sh",
        "-c",
        f"nslookup web {GATEWAY} | tail -n +3; timeout 5 wget -qO- http://{ip}/cgi-bin/ip",
    )
    assert f"Address: {ip}" in out
    assert out.splitlines()[-1].startswith("[::ffff:10.220.0.") and ip not in out.splitlines()[-1]

    # Hawser restarted under a running pod: served on, and podman's DEL still lands
    node.restart()
    assert curl(node, url) == seen_as(EXT_IP)
    podman.podman("rm", "--force", "--time=0", "web")
    assert leftovers(node) == {**NOTHING_LEFT, "networks": [NET]}
    assert podman.ns is not None and live_netns(podman.ns, "/run/netns") == []
    assert curl(node, url, timeout=1) == ""


# --- libcni, by hand ------------------------------------------------------------------------


class Chain:
    """A conflist run the way libcni runs it: each plugin exec'd from ``CNI_PATH`` with the
    ``CNI_*`` environment and its configuration (name, cniVersion, runtimeConfig for the
    capabilities it declares, the previous plugin's result) on stdin."""

    def __init__(self, conflist: dict[str, Any], path: list[str], container: str, netns: str):
        self.conflist = conflist
        self.path = path
        self.container = container
        self.netns = netns

    def exec(
        self,
        plugin: dict[str, Any],
        command: str,
        prev: Any = None,
        runtime: dict[str, Any] | None = None,
        netns: str | None = None,
    ) -> tuple[int, Any]:
        conf = {**plugin, "cniVersion": self.conflist["cniVersion"], "name": self.conflist["name"]}
        wanted = {k for k, on in (plugin.get("capabilities") or {}).items() if on}
        if runtime and wanted:
            conf["runtimeConfig"] = {k: v for k, v in runtime.items() if k in wanted}
        if prev is not None:
            conf["prevResult"] = prev
        env = {
            "CNI_COMMAND": command, "CNI_CONTAINERID": self.container,
            "CNI_NETNS": self.netns if netns is None else netns, "CNI_IFNAME": "eth0",
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=chained", "CNI_PATH": ":".join(self.path),
            "PATH": os.environ["PATH"],
        }  # fmt: skip
        exe = next(Path(d, plugin["type"]) for d in self.path if Path(d, plugin["type"]).exists())
        done = subprocess.run([str(exe)], input=json.dumps(conf).encode(), env=env,
                              capture_output=True, timeout=30, check=False)  # fmt: skip
        out = done.stdout.decode()
        return done.returncode, json.loads(out) if out.strip() else None

    def add(self, runtime: dict[str, Any]) -> Any:
        prev = None
        for plugin in self.conflist["plugins"]:
            code, prev = self.exec(plugin, "ADD", prev, runtime)
            assert code == 0, prev
        return prev

    def run_all(self, command: str, prev: Any, **kw: Any) -> list[tuple[int, Any]]:
        plugins = self.conflist["plugins"]
        order = reversed(plugins) if command == "DEL" else plugins
        return [self.exec(p, command, prev, **kw) for p in order]


def test_hawser_cni_driven_as_libcni_drives_a_chain(node: HawserNode, tmp_path: Path) -> None:
    netns = f"t-{node.tag}-cni"
    sh("ip", "netns", "add", netns)
    node.scope.on_close(lambda: sh("ip", "netns", "del", netns, check=False))
    path = f"/run/netns/{netns}"
    ours = {
        "type": "hawser-cni",
        "socket": str(node.socket),
        "capabilities": {"portMappings": True},
    }
    conflist = {"cniVersion": "1.0.0", "name": NET,
                "plugins": [{"type": "loopback"}, ours, {"type": "tuning"}]}  # fmt: skip
    chain = Chain(conflist, [str(cni_bin(tmp_path)), CNI_PLUGIN_DIR], "c" * 64, path)

    assert chain.exec(ours, "VERSION") == (
        0,
        {"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]},
    )
    ports = {"portMappings": [{"hostPort": 8090, "containerPort": 7000, "protocol": "tcp"}]}
    result = chain.add(ports)
    ep = node.json("inspect", "chained")[0]["NetworkSettings"]["Networks"][NET]
    host_veth = [i for i in result["interfaces"] if "sandbox" not in i]
    assert [i["name"] for i in result["interfaces"]] == ["lo", host_veth[0]["name"], "eth0"]
    assert all(i["mac"] for i in result["interfaces"])
    assert result["interfaces"][2] == {"name": "eth0", "mac": ep["MacAddress"], "sandbox": path}
    assert {"address": f"{ep['IPAddress']}/24", "gateway": GATEWAY, "interface": 2} in result["ips"]
    assert {"address": "127.0.0.1/8", "interface": 0} in result["ips"]  # loopback's, chained
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": GATEWAY}]
    assert result["dns"] == {"nameservers": [GATEWAY]}

    # the interface is configured as the result says, and the port is served
    inside = sh("ip", "-n", netns, "-4", "-o", "addr", "show", "eth0").stdout
    assert f"inet {ep['IPAddress']}/24" in inside
    assert sh("ip", "-n", netns, "route", "show", "default").stdout.startswith(
        f"default via {GATEWAY}"
    )
    servers.serve(node.scope, netns, "tcp", 7000)
    got = servers.client(node.ext_ns, "tcp", UPLINK_IP, 8090)
    assert got["reply"]["peer"][0] == EXT_IP
    assert node.cli("port", "chained").stdout == "7000/tcp -> 0.0.0.0:8090\n"

    # CHECK: every plugin with the cached result; a result that is not ours fails
    assert [code for code, _ in chain.run_all("CHECK", result)] == [0, 0, 0]
    wrong = {**result, "ips": [{"address": "10.220.0.99/24", "interface": 2}]}
    code, err = chain.exec(ours, "CHECK", wrong)
    assert code == 1 and err["code"] == 100 and "10.220.0.99" not in err["msg"]
    assert f"does not list eth0's address {ep['IPAddress']}" in err["msg"]

    # DEL in reverse order, again, and once more without a netns: all succeed
    assert [code for code, _ in chain.run_all("DEL", result)] == [0, 0, 0]
    assert chain.exec(ours, "DEL", result) == (0, None)
    assert chain.exec(ours, "DEL", None, netns="") == (0, None)
    assert leftovers(node) == {**NOTHING_LEFT, "networks": [NET]}
    assert "eth0" not in sh("ip", "-n", netns, "-o", "link").stdout  # the netns stays, bare
    assert got and servers.client(node.ext_ns, "tcp", UPLINK_IP, 8090, timeout=1).get("error")

    # refusals carry the spec's codes
    code, err = Chain({**conflist, "name": "nosuch"}, chain.path, "d" * 64, path).exec(ours, "ADD")
    assert (code, err["code"]) == (1, 7) and "network nosuch not found" in err["msg"]
    code, err = chain.exec(ours, "ADD", netns="/run/netns/t-nonexistent")
    assert (code, err["code"]) == (1, 4) and "netns /run/netns/t-nonexistent does not exist" in err[
        "msg"
    ]
    assert leftovers(node) == {**NOTHING_LEFT, "networks": [NET]}
