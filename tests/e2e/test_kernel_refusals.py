"""A kernel refusal reaches the user as one clear line naming what failed and why (not
``internal error: …``), and the refused operation leaves nothing behind."""

from __future__ import annotations

import json

from testbed.hawser import HawserNode
from testbed.shell import sh


def test_a_sandbox_gone_behind_the_daemons_back_is_a_clear_refusal(node: HawserNode) -> None:
    node.cli("network", "create", "--subnet", "172.30.6.0/24", "side")
    node.cli("run", "-d", "--name", "lost", "--", "sleep", "600")
    node.cli("run", "-d", "--name", "kept", "--", "sleep", "600")
    ns = node.sandbox("lost")
    links = sorted(node.hawser_links())
    sh("ip", "netns", "del", ns)  # its process keeps the namespace; its name is gone
    result = node.cli("network", "connect", "side", "lost", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "Error response from daemon: could not enter the sandbox netns "
        f"{ns}: No such file or directory (ENOENT)\n"
    )
    assert sorted(node.hawser_links()) == links  # no veth left over
    assert list(node.json("inspect", "lost")[0]["NetworkSettings"]["Networks"]) == ["bridge"]
    assert node.json("network", "inspect", "side")[0]["Containers"] == {}
    # positive control: the same operation on a sandbox that is there
    node.cli("network", "connect", "side", "kept")
    assert node.ip_of("kept", "side").startswith("172.30.6.")
    node.cli("rm", "-f", "lost")  # its process, in the nameless namespace, ends with it
    assert "lost" not in [c["Names"] for c in node.jsonl("ps", "-a", "--format", "json")]


def _ifindex(node: HawserNode, name: str) -> int:
    node.in_node("ip", "link", "add", name, "type", "bridge")
    index = int(
        json.loads(node.in_node("ip", "-j", "link", "show", "dev", name).stdout)[0]["ifindex"]
    )
    node.in_node("ip", "link", "del", name)
    return index


def test_a_run_that_fails_after_its_sandbox_exists_is_undone_whole(node: HawserNode) -> None:
    """The netns, its veth and /etc files are made, then the network's bridge is found gone
    (deleted behind the daemon's back, no periodic repair): everything made goes again."""
    node.stop()
    node.start("--resync-interval", "0")
    node.cli("network", "create", "--subnet", "172.30.5.0/24", "gone")
    bridge = "hw-" + node.json("network", "inspect", "gone")[0]["Id"][:12]
    node.in_node("ip", "link", "del", bridge)
    links, sandboxes, folders = node.hawser_links(), node.hawser_netns(), node.sandbox_folders()
    first = _ifindex(node, "t-probe1")
    result = node.cli("run", "-d", "--name", "late", "--network", "gone", "-p", "8086:80",
                      "--", "sleep", "600", check=False)  # fmt: skip
    assert _ifindex(node, "t-probe2") > first + 1  # a veth was made in between
    assert result.returncode == 125
    assert result.stderr == (
        f"Error response from daemon: bridge {bridge} of network gone is missing\n"
    )
    assert (node.hawser_links(), node.hawser_netns(), node.sandbox_folders()) == (
        links, sandboxes, folders,
    )  # fmt: skip
    assert node.cli("ps", "-a", "-q").stdout == ""
    assert "8086" not in node.cli("bpf", "ports").stdout
    # positive control: a restart rebuilds the bridge (reconcile) and the same run succeeds
    node.stop()
    node.start("--resync-interval", "0")
    node.cli("run", "-d", "--name", "late", "--network", "gone", "-p", "8086:80",
             "--", "sleep", "600")  # fmt: skip
    assert "8086" in node.cli("bpf", "ports").stdout
    node.cli("rm", "-f", "late")
