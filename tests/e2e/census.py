"""What a node holds, read from the kernel and the API, and the invariant that ties them.

The kernel side is read independently of the daemon: links with ``ip``, netns from
/run/netns, folders from /etc/netns, the pinned BPF maps with ``bpftool``, processes
from /proc. The store side comes from the API (``GET /v1/containers``, inspect).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.client import UnixHTTPConnection
from controller.datapath.types import PIN_VERSION
from tests.harness import UPLINK_IP, HawserNode

#: Every map the controller writes (CT/NAT/sock are checked by address, not listed).
CONTROLLER_MAPS = (
    "hawser_ports", "hawser_port_stats", "hawser_endpoints", "hawser_endpoint_stats",
    "hawser_networks", "hawser_subnets", "hawser_uplinks", "hawser_node_addrs", "hawser_policy",
)  # fmt: skip


def api(node: HawserNode, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    """One request on the daemon's socket; returns (status, decoded JSON or None)."""
    conn = UnixHTTPConnection(str(node.socket), timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw.strip() else None)
    finally:
        conn.close()


def start(node: HawserNode, *extra: str, timeout: float = 30) -> None:
    """Start the daemon and wait until its API answers (faster than polling with the CLI)."""
    node.start(*extra, wait=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert node.proc is not None
        if node.proc.poll() is not None:
            raise RuntimeError(f"daemon exited {node.proc.returncode}:\n{node.log()[-3000:]}")
        try:
            if api(node, "GET", "/v1/info", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"daemon not ready:\n{node.log()[-3000:]}")


# kernel side ---------------------------------------------------------------------------
def u32_ip(v: int) -> str:
    return str(ipaddress.IPv4Address(int(v).to_bytes(4, "little")))


def ntohs(v: int) -> int:
    return int.from_bytes(int(v).to_bytes(2, "little"), "big")


def pinned(node: HawserNode, name: str) -> list[dict[str, Any]]:
    """Entries of a pinned map as bpftool decodes them with BTF ({"key": …, "value": …})."""
    pin = Path("/sys/fs/bpf/hawser") / node.name / PIN_VERSION / name
    out = subprocess.run(
        ["bpftool", "-j", "map", "dump", "pinned", str(pin)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return [entry["formatted"] for entry in json.loads(out)]


def node_links(node: HawserNode) -> dict[str, int]:
    """ifname → ifindex of every link in the node netns."""
    out = node.in_node("ip", "-j", "link", "show").stdout
    return {link["ifname"]: int(link["ifindex"]) for link in json.loads(out)}


def ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def tagged_processes(tag: str) -> dict[int, tuple[int, int] | None]:
    """pid → netns id of every process whose environment carries ``tag``."""
    out = {}
    needle = tag.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            out[int(entry)] = ns_id(f"/proc/{entry}/ns/net")
    return out


def shim_pids(node: HawserNode) -> set[int]:
    """Supervisor shims whose exit file is under this node's state folder."""
    root = str(node.state_dir / "containers").encode()
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if argv[3:4] != [b"hawser-shim"]:
                continue
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(b"HAWSER_EXIT=" + root + b"/") for e in env):
            out.add(int(entry))
    return out


# store side ------------------------------------------------------------------------------
@dataclass
class Expected:
    netns: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    endpoints: dict[str, str] = field(default_factory=dict)  # IP → host veth name
    ports: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    gateways: set[str] = field(default_factory=set)
    bridges: int = 0
    ids: set[str] = field(default_factory=set)
    running: dict[int, str] = field(default_factory=dict)  # shim pid → netns


def expected(node: HawserNode) -> Expected:
    """What the store (through the API) justifies."""
    want = Expected()
    status, nets = api(node, "GET", "/v1/networks")
    assert status == 200, nets
    for net in nets:
        if net["Driver"] != "bridge":
            continue
        want.bridges += 1
        want.links.add(
            net["Options"].get("com.docker.network.bridge.name") or f"hw-{net['Id'][:12]}"
        )
        for cfg in net["IPAM"]["Config"]:  # inspect hides a default gateway, as Docker does
            first = ipaddress.IPv4Network(cfg["Subnet"]).network_address + 1
            want.gateways.add(cfg.get("Gateway") or str(first))
    status, ctrs = api(node, "GET", "/v1/containers?all=1")
    assert status == 200, ctrs
    for summary in ctrs:
        status, ctr = api(node, "GET", f"/v1/containers/{summary['Id']}")
        assert status == 200, ctr
        want.ids.add(ctr["Id"])
        settings = ctr["NetworkSettings"]
        netns = settings["SandboxKey"].rsplit("/", 1)[-1]
        if netns:
            want.netns.add(netns)
        for ep in settings["Networks"].values():
            if ep["EndpointID"]:
                veth = f"hwv{ep['EndpointID'][:11]}"
                want.links.add(veth)
                want.endpoints[ep["IPAddress"]] = veth
        serving = settings["Networks"].get(ctr["HostConfig"]["NetworkMode"], {})
        for key, binds in (settings["Ports"] or {}).items():
            port, proto = key.split("/")
            for b in binds or []:
                want.ports[(proto, int(b["HostPort"]))] = (serving["IPAddress"], int(port))
        if ctr["State"]["Running"] and ctr["State"]["Pid"]:
            want.running[int(ctr["State"]["Pid"])] = netns
    return want


# the invariant ---------------------------------------------------------------------------
def check(node: HawserNode, want: Expected | None = None) -> Expected:
    """Every container has its netns, veths and exactly its map entries; nothing else exists."""
    want = want or expected(node)
    assert set(node.hawser_netns()) == want.netns, (node.hawser_netns(), want.netns)
    assert set(node.sandbox_folders()) == want.netns, (node.sandbox_folders(), want.netns)
    links = node_links(node)
    ours = {n for n in links if n.startswith(("hw", "hawser"))}
    assert ours == want.links, (ours, want.links)

    eps = {u32_ip(e["key"]): e["value"] for e in pinned(node, "hawser_endpoints")}
    assert set(eps) == set(want.endpoints), ("endpoint entries", eps, want.endpoints)
    for ip, veth in want.endpoints.items():
        assert eps[ip]["ifindex"] == links[veth], f"endpoint {ip} points to the wrong veth"
    live_ifindexes = {links[v] for v in want.endpoints.values()}
    for e in pinned(node, "hawser_endpoint_stats"):
        assert e["key"] in live_ifindexes, f"counters of a gone endpoint (ifindex {e['key']})"

    ports = {}
    for e in pinned(node, "hawser_ports"):
        k, v = e["key"], e["value"]
        proto = {6: "tcp", 17: "udp"}[k["proto"]]
        ports[(proto, ntohs(k["host_port"]))] = (
            u32_ip(v["backend_ip"]),
            ntohs(v["backend_port"]),
            int(v["ifindex"]),
        )
    assert set(ports) == set(want.ports), ("published ports", ports, want.ports)
    for key, (ip, port) in want.ports.items():
        assert ports[key] == (ip, port, links[want.endpoints[ip]]), f"port {key} misdirected"
    for e in pinned(node, "hawser_port_stats"):
        key = ({6: "tcp", 17: "udp"}[e["key"]["proto"]], ntohs(e["key"]["host_port"]))
        assert key in want.ports, f"counters of a port no container publishes: {key}"

    assert len(pinned(node, "hawser_networks")) == want.bridges, pinned(node, "hawser_networks")
    assert len(pinned(node, "hawser_subnets")) == want.bridges, pinned(node, "hawser_subnets")
    uplinks = [e["key"] for e in pinned(node, "hawser_uplinks")]
    assert uplinks == [links["uplink0"]], (uplinks, links)
    addrs = {u32_ip(e["key"]) for e in pinned(node, "hawser_node_addrs")}
    assert addrs == {"127.0.0.1", UPLINK_IP} | want.gateways, addrs
    assert pinned(node, "hawser_policy") == [], "allow entries (no links in these tests)"
    live = set(want.endpoints) | want.gateways
    for e in pinned(node, "hawser_ct"):
        assert u32_ip(e["key"]["saddr"]) in live, f"a flow of a gone endpoint: {e['key']}"
    for e in pinned(node, "hawser_nat"):
        assert u32_ip(e["value"]["addr"]) in live, "a masquerade entry of a gone endpoint"

    netns_ids = {ns_id(f"/run/netns/{ns}"): ns for ns in want.netns}
    for pid, where in tagged_processes(marker(node)).items():
        assert where in netns_ids, f"process {pid} runs outside every container's netns"
    assert shim_pids(node) == set(want.running), ("shims", shim_pids(node), want.running)
    folders = node.state_dir / "containers"
    if folders.exists():
        assert {p.name for p in folders.iterdir()} <= want.ids, "output folders of no container"
    return want


def marker(node: HawserNode) -> str:
    """Env entry given to test processes so that leftovers can be found in /proc."""
    return f"HAWSER_TEST={node.name}"
