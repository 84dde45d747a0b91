"""A kernel refusal reaches the user as one clear line naming what failed and why (not
``internal error: …``), and the refused operation leaves nothing behind."""

from __future__ import annotations

from tests.harness import HawserNode, sh


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
