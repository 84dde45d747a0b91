"""Daemon options, masquerade, the API socket, late uplinks, and an untouched ruleset."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from testbed.hawser import EXT_IP, UPLINK_IP, HawserNode
from testbed.wait import until

SEEN_BY_EXT = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9900)); s.listen()
print("READY", flush=True)
for _ in range(int(sys.argv[1])):
    c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()
"""
ASK = """
import socket, sys
c = socket.create_connection((sys.argv[1], 9900), timeout=3); print(c.recv(100).decode())
"""


def _ext_server(node: HawserNode, connections: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", node.ext_ns, "python3", "-c", SEEN_BY_EXT, str(connections)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "READY\n"
    return proc


def _ruleset(node: HawserNode) -> tuple[str, str]:
    """The node's iptables and nftables rules; the tools must be there (deploy/setup.sh)."""
    for tool in ("iptables-save", "nft"):
        assert shutil.which(tool), f"{tool} is missing: run `make install`"
    ipt = node.in_node("iptables-save").stdout
    ipt = "\n".join(line for line in ipt.splitlines() if not line.startswith("#"))
    return ipt, node.in_node("nft", "list", "ruleset").stdout


def _ruleset_sees_a_rule(node: HawserNode, before: tuple[str, str]) -> None:
    """Positive control: one iptables rule and one nft table show up in _ruleset."""
    assert before == ("", ""), "the node netns is new: its ruleset starts empty"
    node.in_node("iptables", "-A", "INPUT", "-s", "192.0.2.1", "-j", "ACCEPT")
    node.in_node("nft", "add", "table", "inet", "hawser_probe")
    try:
        ipt, nft = _ruleset(node)
        assert "-A INPUT -s 192.0.2.1/32 -j ACCEPT" in ipt.splitlines()
        assert "table inet hawser_probe" in nft
    finally:
        node.in_node("nft", "flush", "ruleset")  # our own netns: back to empty
    assert _ruleset(node) == before


def test_masquerade_and_no_iptables_or_nftables(tmp_path: Path) -> None:
    node = HawserNode(tmp_path)
    try:
        before = _ruleset(node)
        node.start()
        server = _ext_server(node, 2)
        node.cli("run", "-d", "--name", "out", "-p", "8080:80", "--", "sleep", "600")
        node.cli("network", "create", "--internal", "--subnet", "172.30.7.0/24", "sealed")
        node.cli("run", "-d", "--name", "inner", "--network", "sealed")
        seen = node.cli("exec", "out", "--", "python3", "-c", ASK, EXT_IP).stdout.strip()
        assert seen == UPLINK_IP  # masqueraded to the uplink's address
        node.cli("exec", "out", "--", "ping", "-c1", "-W2", EXT_IP)
        inner_routes = node.cli("exec", "inner", "--", "ip", "route").stdout
        assert "default" not in inner_routes and "172.30.7.0/24" in inner_routes
        sealed = node.cli("exec", "inner", "--", "python3", "-c", ASK, EXT_IP, check=False)
        assert sealed.returncode != 0
        node.cli("exec", "inner", "--", "ping", "-c1", "-W2", "172.30.7.1")  # inner is up
        node.in_ext("python3", "-c", ASK, "127.0.0.1", check=False)  # let the server finish
        server.wait(timeout=10)
        assert _ruleset(node) == before
        node.stop()
        assert _ruleset(node) == before
        _ruleset_sees_a_rule(node, before)
    finally:
        node.close()


def test_daemon_options_bip_icc_ip_masq_and_default_ip(tmp_path: Path) -> None:
    node = HawserNode(tmp_path)
    try:
        node.start("--bip", "172.29.0.1/16", "--fixed-cidr", "172.29.5.0/24", "--icc", "false",
                   "--ip-masq", "false", "--ip", UPLINK_IP)  # fmt: skip
        bridge = node.json("network", "inspect", "bridge")[0]
        assert bridge["IPAM"]["Config"][0]["Subnet"] == "172.29.0.0/16"
        assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        node.cli("run", "-d", "--name", "one", "-p", "8080:80")
        node.cli("run", "-d", "--name", "two")
        assert node.ip_of("one").startswith("172.29.5.")
        assert node.cli("port", "one").stdout.strip() == f"80/tcp -> {UPLINK_IP}:8080"
        icc = node.cli("exec", "one", "--", "ping", "-c1", "-W1", node.ip_of("two"), check=False)
        assert icc.returncode != 0  # --icc=false
        node.cli("exec", "one", "--", "ping", "-c1", "-W2", "172.29.0.1")  # the gateway answers
        node.in_node("ping", "-c1", "-W2", node.ip_of("two"))  # and so does two, to the node
        node.in_ext("ip", "route", "add", "172.29.0.0/16", "via", UPLINK_IP)
        server = _ext_server(node, 1)
        seen = node.cli("exec", "one", "--", "python3", "-c", ASK, EXT_IP).stdout.strip()
        assert seen == node.ip_of("one")  # --ip-masq=false: no SNAT
        server.wait(timeout=10)
    finally:
        node.close()


def test_config_file_env_and_unknown_keys(tmp_path: Path) -> None:
    node = HawserNode(tmp_path)
    try:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"mtu": 1400, "colour": "blue"}))
        node.start("--config-file", str(bad), wait=False)
        assert node.proc is not None and node.proc.wait(timeout=30) != 0
        assert "unknown configuration key(s)" in node.log() and "colour" in node.log()
        good = tmp_path / "good.json"
        good.write_text(json.dumps({"mtu": 1400}))
        node.start("--config-file", str(good))
        assert (
            node.json("network", "inspect", "bridge")[0]["Options"]["com.docker.network.driver.mtu"]
            == "1400"
        )
        assert "mtu=1400 (file)" in node.log()
    finally:
        node.close()


def test_api_socket_mode_openapi_and_late_uplink(node: HawserNode) -> None:
    assert stat.S_IMODE(node.socket.stat().st_mode) == 0o660
    spec = json.loads(
        subprocess.run(
            ["curl", "-s", "--unix-socket", str(node.socket), "http://hawser/openapi.json"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert spec["openapi"].startswith("3.") and "/v1/networks/{ref}/connect" in spec["paths"]
    info = node.json("info", "--format", "json")
    assert "uplink0" in info["Uplinks"]
    # an interface that appears later is attached within a few seconds, if it is up and has an
    # IPv4 address; one that is up without an address (like an ifb device) is left alone
    node.in_node("ip", "link", "add", "bare0", "type", "veth", "peer", "name", "bare1")
    node.in_node("ip", "link", "set", "bare0", "up")
    node.in_node("ip", "link", "add", "late0", "type", "veth", "peer", "name", "late1")
    node.in_node("ip", "addr", "add", "10.97.0.1/24", "dev", "late0")
    node.in_node("ip", "link", "set", "late0", "up")
    node.in_node("ip", "addr", "add", "192.0.2.7/24", "dev", "late0")  # up with IPv4: an uplink

    def uplinks_once_late0_is() -> list[str] | None:
        found: list[str] = node.json("info", "--format", "json")["Uplinks"]
        return found if "late0" in found else None

    uplinks = until(uplinks_once_late0_is, 10) or []
    assert "late0" in uplinks and "bare0" not in uplinks
    tc = node.in_node("tc", "filter", "show", "dev", "late0", "ingress").stdout
    assert "hawser_from_uplink" in tc
    assert "hawser" not in node.in_node("tc", "filter", "show", "dev", "bare0", "ingress").stdout
    # an uplink that goes down is detached
    node.in_node("ip", "link", "set", "late0", "down")
    assert until(lambda: "late0" not in node.json("info", "--format", "json")["Uplinks"], 10)
    assert "hawser" not in node.in_node("tc", "filter", "show", "dev", "late0", "ingress").stdout


@pytest.mark.parametrize("var", ["HAWSER_SOCKET"])
def test_cli_reads_socket_from_environment(node: HawserNode, var: str) -> None:
    env = {"PATH": "/usr/bin:/bin", var: str(node.socket)}
    out = subprocess.run([str(Path(__file__).resolve().parents[2] / ".venv/bin/hawser"),
                          "network", "ls", "-q"], env=env, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0 and len(out.stdout.split()) == 3
    missing = subprocess.run(
        [str(Path(__file__).resolve().parents[2] / ".venv/bin/hawser"), "--socket",
         "/nonexistent/hawser.sock", "ps"], capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "Cannot connect to the Hawser daemon at unix:///nonexistent/hawser.sock. "
        "Is the daemon running?"
    )
