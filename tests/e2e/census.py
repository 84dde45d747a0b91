"""What a node holds, read from the kernel and the API, and the invariant that ties them.

The kernel side is read independently of the daemon: links with ``ip``, netns from
/run/netns, folders from /etc/netns, the pinned BPF maps with ``bpftool``, processes
from /proc. The store side comes from the API (``GET /v1/containers``, inspect).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from testbed import census, netns
from testbed.census import ns_id, tagged_processes
from testbed.hawser import UPLINK_IP, HawserNode

__all__ = [
    "Expected",
    "check",
    "expected",
    "marker",
    "ns_id",
    "ntohs",
    "pinned",
    "tagged_processes",
    "u32_ip",
]


# kernel side ---------------------------------------------------------------------------
def u32_ip(v: int) -> str:
    return str(ipaddress.IPv4Address(int(v).to_bytes(4, "little")))


def ntohs(v: int) -> int:
    return int.from_bytes(int(v).to_bytes(2, "little"), "big")


def pinned(node: HawserNode, name: str) -> list[dict[str, Any]]:
    """Entries of one of the node's pinned maps, as bpftool decodes them with BTF."""
    return census.pinned_entries(node.name, name)


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
    status, nets = node.api("GET", "/v1/networks")
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
    status, ctrs = node.api("GET", "/v1/containers?all=1")
    assert status == 200, ctrs
    for summary in ctrs:
        status, ctr = node.api("GET", f"/v1/containers/{summary['Id']}")
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
    links = netns.links(node.node_ns)
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
    shims = census.shim_pids(node.state_dir)
    assert shims == set(want.running), ("shims", shims, want.running)
    folders = node.state_dir / "containers"
    if folders.exists():
        assert {p.name for p in folders.iterdir()} <= want.ids, "output folders of no container"
    return want


def marker(node: HawserNode) -> str:
    """Env entry given to test processes so that leftovers can be found in /proc."""
    return f"HAWSER_TEST={node.name}"
