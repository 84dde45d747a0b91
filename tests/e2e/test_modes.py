"""Docker's four network modes through the CLI, against a daemon in a node netns."""

from __future__ import annotations

from testbed.hawser import UPLINK_IP, HawserNode


def _links_in(node: HawserNode, container: str) -> list[str]:
    out = node.cli("exec", container, "--", "ip", "-o", "link", "show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def test_bridge_containers_reach_gateway_and_each_other(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "ca")
    node.cli("run", "-d", "--name", "cb")
    gateway = node.json("network", "inspect", "bridge")[0]["IPAM"]["Config"][0]["Gateway"]
    ip_a, ip_b = node.ip_of("ca"), node.ip_of("cb")
    assert ip_a != ip_b
    node.cli("exec", "ca", "--", "ping", "-c1", "-W2", gateway)
    node.cli("exec", "ca", "--", "ping", "-c1", "-W2", ip_b)
    node.cli("exec", "cb", "--", "ping", "-c1", "-W2", ip_a)
    routes = node.cli("exec", "ca", "--", "ip", "route").stdout
    assert f"default via {gateway} dev eth0" in routes
    assert sorted(_links_in(node, "ca")) == ["eth0", "lo"]
    hosts = node.cli("exec", "ca", "--", "cat", "/etc/hosts").stdout
    hostname = node.json("inspect", "ca")[0]["Config"]["Hostname"]
    assert f"{ip_a}\t{hostname}" in hosts


def test_none_has_only_loopback(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "iso", "--network", "none")
    assert _links_in(node, "iso") == ["lo"]
    addrs = node.cli("exec", "iso", "--", "ip", "-o", "-4", "addr").stdout
    assert "127.0.0.1/8" in addrs and addrs.count("inet ") == 1
    err = node.cli("network", "connect", "bridge", "iso", check=False)
    assert err.returncode != 0
    assert "private (none) mode" in err.stderr


def test_host_mode_sees_node_interfaces_and_discards_ports(node: HawserNode) -> None:
    run = node.cli("run", "-d", "--name", "hh", "--network", "host", "-p", "8080:80")
    assert "Published ports are discarded when using host network mode" in run.stderr
    out = node.cli("exec", "hh", "--", "ip", "-o", "-4", "addr").stdout
    assert f"{UPLINK_IP}/24" in out
    assert node.cli("port", "hh").stdout.strip() == ""
    err = node.cli("run", "-d", "--network", "host", "--link", "hh:x", check=False)
    assert "conflicting options: host type networking can't be used with links" in err.stderr
    err = node.cli("network", "disconnect", "host", "hh", check=False)
    assert "cannot be disconnected from host network" in err.stderr


def test_container_mode_shares_the_sandbox(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "main", "--", "python3", "-m", "http.server", "8000")
    node.cli("run", "-d", "--name", "side", "--network", "container:main")
    assert node.ip_of("main")
    assert _links_in(node, "side") == _links_in(node, "main")
    # the side car reaches main's server on its own loopback: one netns
    for _ in range(50):
        got = node.cli("exec", "side", "--", "python3", "-c",
                       "import urllib.request as u;print(u.urlopen('http://127.0.0.1:8000/').status)",
                       check=False)  # fmt: skip
        if got.stdout.strip() == "200":
            break
    assert got.stdout.strip() == "200"
    for flags, text in (
        (["-p", "80"], "conflicting options: port publishing and the container type network mode"),
        (["--hostname", "x"], "conflicting options: hostname and the network mode"),
        (["--dns", "10.0.0.1"], "conflicting options: dns and the network mode"),
    ):
        err = node.cli("run", "-d", "--network", "container:main", *flags, check=False)
        assert err.returncode != 0 and text in err.stderr
    node.cli("run", "--name", "done", "--", "true")
    err = node.cli("run", "-d", "--network", "container:done", check=False)
    assert "cannot join network of a non running container" in err.stderr


def test_connect_and_disconnect_add_and_remove_eth1(node: HawserNode) -> None:
    node.cli("network", "create", "--subnet", "172.30.5.0/24", "backend")
    node.cli("run", "-d", "--name", "c1")
    node.cli("network", "connect", "--ip", "172.30.5.50", "backend", "c1")
    assert sorted(_links_in(node, "c1")) == ["eth0", "eth1", "lo"]
    assert node.ip_of("c1", "backend") == "172.30.5.50"
    node.cli("exec", "c1", "--", "ping", "-c1", "-W2", "172.30.5.1")
    members = node.json("network", "inspect", "backend")[0]["Containers"]
    assert [m["Name"] for m in members.values()] == ["c1"]
    err = node.cli("network", "connect", "backend", "c1", check=False)
    assert "endpoint with name c1 already exists in network backend" in err.stderr
    node.cli("network", "disconnect", "backend", "c1")
    assert sorted(_links_in(node, "c1")) == ["eth0", "lo"]
    assert node.json("network", "inspect", "backend")[0]["Containers"] == {}
    err = node.cli("network", "disconnect", "backend", "c1", check=False)
    assert "is not connected to network backend" in err.stderr


def test_rm_leaves_no_link_netns_file_or_row(node: HawserNode) -> None:
    before_links = node.hawser_links()
    node.cli("network", "create", "extra")
    node.cli("run", "-d", "--name", "xx", "-p", "8081:80", "--", "sleep", "300")
    node.cli("network", "connect", "extra", "xx")
    sandbox = node.sandbox("xx")
    assert sandbox in node.hawser_netns() and sandbox in node.sandbox_folders()
    node.cli("rm", "-f", "xx")
    node.cli("network", "rm", "extra")
    assert node.hawser_netns() == []
    assert node.sandbox_folders() == []
    assert node.hawser_links() == before_links
    assert node.cli("ps", "-aq").stdout.strip() == ""
    assert [n["Name"] for n in node.jsonl("network", "ls", "--format", "json")] == [
        "bridge",
        "host",
        "none",
    ]


def test_foreground_run_streams_output_and_exit_code(node: HawserNode) -> None:
    out = node.cli("run", "--rm", "--name", "fg", "-e", "GREETING=hi", "--", "sh", "-c",
                   "echo $GREETING from $(hostname); exit 3", check=False)  # fmt: skip
    assert out.returncode == 3
    assert out.stdout.startswith("hi from ")
    assert node.cli("ps", "-aq").stdout.strip() == ""
    node.cli("run", "-d", "--name", "bg", "--", "sh", "-c", "echo started; sleep 300")
    for _ in range(50):
        if "started" in node.cli("logs", "bg").stdout:
            break
    assert "started" in node.cli("logs", "bg").stdout
    err = node.cli("rm", "bg", check=False)
    assert "You cannot remove a running container" in err.stderr


def test_hostname_dns_and_env_reach_the_process(node: HawserNode) -> None:
    node.cli("run", "-d", "--name", "named", "--hostname", "box1", "--dns", "10.99.0.53",
             "-e", "COLOUR=blue", "--", "sleep", "300")  # fmt: skip
    assert node.cli("exec", "named", "--", "hostname").stdout.strip() == "box1"
    assert (
        "nameserver 10.99.0.53" in node.cli("exec", "named", "--", "cat", "/etc/resolv.conf").stdout
    )
    assert "COLOUR=blue" in node.cli("exec", "named", "--", "env").stdout
    hosts = node.cli("exec", "named", "--", "cat", "/etc/hosts").stdout
    assert f"{node.ip_of('named')}\tbox1" in hosts
    # iproute2's convention: `ip netns exec` sees the same files
    sandbox = node.sandbox("named")
    direct = node.in_node("ip", "netns", "exec", sandbox, "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.99.0.53" in direct
    inspect = node.json("inspect", "named")[0]
    assert inspect["Config"]["Hostname"] == "box1" and inspect["HostConfig"]["Dns"] == [
        "10.99.0.53"
    ]
    assert len(inspect["Id"]) == 64 and node.cli("ps", "-q").stdout.split() == [inspect["Id"][:12]]


def test_bridge_mac_stays_put_as_containers_come_and_go(node: HawserNode) -> None:
    """A bridge left alone adopts its lowest port MAC; that would strand the gateway's ARP."""
    node.cli("network", "create", "--subnet", "172.30.6.0/24", "macnet")
    bridge = "hw-" + node.json("network", "inspect", "macnet")[0]["Id"][:12]

    def bridge_mac() -> str:
        return node.in_node("ip", "-br", "link", "show", "dev", bridge).stdout.split()[2]

    node.cli("run", "-d", "--name", "first", "--network", "macnet")
    mac = bridge_mac()
    for i in range(8):
        node.cli("run", "-d", "--name", f"more{i}", "--network", "macnet")
        assert bridge_mac() == mac
        node.cli("exec", "first", "--", "ping", "-c1", "-W2", "172.30.6.1")


def test_ctrl_c_reaches_the_process_and_kill_sends_signals(node: HawserNode) -> None:
    import signal
    import subprocess
    import time

    from testbed.hawser import HAWSER

    script = 'trap "echo got INT; exit 7" INT; echo ready; while true; do sleep 0.1; done'
    fg = subprocess.Popen(
        [HAWSER, "--socket", str(node.socket), "run", "--name", "fg", "--", "sh", "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fg.stdout is not None
    assert fg.stdout.readline().strip() == "ready"
    fg.send_signal(signal.SIGINT)  # what Ctrl-C does to the client
    out, _ = fg.communicate(timeout=20)
    assert fg.returncode == 7
    assert "got INT" in out
    assert node.json("inspect", "fg")[0]["State"]["ExitCode"] == 7

    node.cli("run", "-d", "--name", "bg2", "--", "sleep", "300")
    assert node.cli("kill", "-s", "TERM", "bg2").stdout.strip() == "bg2"
    for _ in range(50):
        state = node.json("inspect", "bg2")[0]["State"]
        if state["Status"] == "exited":
            break
        time.sleep(0.1)
    assert state["Status"] == "exited" and state["ExitCode"] == 143
    err = node.cli("kill", "bg2", check=False)
    assert err.returncode != 0 and "is not running" in err.stderr
    err = node.cli("kill", "-s", "NOPE", "fg", check=False)
    assert err.returncode != 0
