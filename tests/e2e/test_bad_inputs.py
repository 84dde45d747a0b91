"""Bad input gets one clear error naming the problem and leaves nothing half-made.

Each row of the table is a command as a user types it, the whole stderr line it must print
and its exit code (``run`` exits 125 like Docker's; every other refused command exits 1).
Around each row a snapshot of everything the daemon can make must stay the same:

- the store: every table of the SQLite file, read through a read-only connection, and the
  IPAM view derived from it (addresses and host ports are allocated from these rows only);
- every BPF map pinned for this node (counter maps by key: their values move with traffic);
- tc qdiscs and filters on every interface of the node;
- the node's links, IPv4 addresses and routes; each sandbox's links, addresses and routes;
- the sandboxes (netns under /run/netns) and their /etc/netns folders with their files;
- the supervisor's folders (state-dir/containers/*);
- the processes in the node's netns and in every sandbox.

The daemon runs with ``--uplink uplink0`` (so a probe interface is never taken for an uplink)
and ``--resync-interval 0`` (so no periodic repair can tidy a leak before the snapshot).

PORT_ROWS are refused for their published ports: a port already bound by a container, a
port a process of the node holds, an address the node does not have. ``ops.ports`` finds
these before anything is built (no netns, veth, /etc/netns files or container row), so a
conflict costs no undo. Each snapshot creates and deletes one probe link in the node; the gap
between two probes' ifindexes counts the links made in between, and every port row proves
that it made none. (The undo of a run that fails after its sandbox exists is proved in
``test_kernel_refusals.py``.)
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from testbed.hawser import HawserNode

RUN_FAILED = 125  # `run`: Docker's exit code when the container could not be created
REFUSED = 1  # every other command the daemon refuses
DAEMON = "Error response from daemon: "
PROBE_LINK = "tprobe0"

# Ports held by a process of the node itself (not a container): host_can_bind refuses them.
NODE_HELD = {"tcp": (9998, 9999), "udp": (9997,)}
HOLD_PORTS = """
import socket, sys
held = []
for proto, port in (a.split("/") for a in sys.argv[1:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    if proto == "tcp":
        s.listen()
    held.append(s)
print("READY", flush=True)
sys.stdin.read()
"""


class Row(NamedTuple):
    args: list[str]
    line: str  # the whole stderr line; {web} {stopped} {net1}: ids of the world's objects
    code: int


def refused(*args: str, line: str) -> Row:
    return Row(list(args), DAEMON + line, RUN_FAILED if args[0] == "run" else REFUSED)


BAD_INPUTS: dict[str, Row] = {
    # networks ------------------------------------------------------------------------------
    "name with a space": refused(
        "network", "create", "bad name",
        line='network name "bad name" includes invalid characters, '
        'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed',
    ),
    "name taken": refused("network", "create", "net1",
                          line="network with name net1 already exists"),
    "subnet overlaps a network": refused(
        "network", "create", "--subnet", "172.31.1.0/25", "n2",
        line="Pool overlaps with other one on this address space",
    ),
    "subnet overlaps the uplink's route": refused(
        "network", "create", "--subnet", "10.99.0.0/24", "n3",
        line="Pool overlaps with other one on this address space",
    ),
    "prefix too long": refused("network", "create", "--subnet", "10.0.0.0/33", "n4",
                               line="invalid CIDR address: 10.0.0.0/33"),
    "subnet not a CIDR": refused("network", "create", "--subnet", "foo", "n5",
                                 line="invalid CIDR address: foo"),
    "gateway without subnet": refused(
        "network", "create", "--gateway", "10.9.0.1", "n6",
        line="every ip-range or gateway must have a corresponding subnet",
    ),
    "gateway outside the subnet": refused(
        "network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.8.0.1", "n7",
        line="no matching subnet for gateway 10.8.0.1",
    ),
    "ip-range outside the subnet": refused(
        "network", "create", "--subnet", "10.9.0.0/24", "--ip-range", "10.10.0.0/25", "n8",
        line="no matching subnet for range 10.10.0.0/25",
    ),
    "aux-address outside the subnet": refused(
        "network", "create", "--subnet", "10.9.0.0/24", "--aux-address", "a=10.8.0.5", "n9",
        line="no matching subnet for aux-address 10.8.0.5",
    ),
    "icc not a boolean": refused(
        "network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", "n10",
        line="failed to parse com.docker.network.bridge.enable_icc value: maybe "
        '(strconv.ParseBool: parsing "maybe": invalid syntax)',
    ),
    "mtu not a number": refused(
        "network", "create", "-o", "com.docker.network.driver.mtu=abc", "n11",
        line="failed to parse com.docker.network.driver.mtu value: abc "
        '(strconv.Atoi: parsing "abc": invalid syntax)',
    ),
    "unknown driver": refused("network", "create", "-d", "macvlan", "n12",
                              line='plugin "macvlan" not found'),
    "overlay without a cluster store": refused(
        "network", "create", "-d", "overlay", "n13",
        line="overlay networks need a cluster store: start the daemon with "
        "--cluster-store etcd://HOST:PORT and --cluster-advertise IP|IFACE",
    ),
    "rm the default bridge": refused(
        "network", "rm", "bridge", line="bridge is a pre-defined network and cannot be removed"
    ),
    "rm a network in use": refused(
        "network", "rm", "net1",
        line="error while removing network: network net1 id {net1} has active endpoints",
    ),
    "rm an unknown network": refused("network", "rm", "nosuch", line="network nosuch not found"),
    "connect to an unknown network": refused("network", "connect", "nosuch", "web",
                                             line="network nosuch not found"),
    "connect an unknown container": refused("network", "connect", "net1", "nosuch",
                                            line="No such container: nosuch"),
    "connect twice": refused(
        "network", "connect", "net1", "user1",
        line="endpoint with name user1 already exists in network net1",
    ),
    # connect allocates the address (endpoints.prepare) before any veth: refused, not undone
    "connect with a taken IP": refused(
        "network", "connect", "--ip", "172.31.1.10", "net1", "web", line="Address already in use"
    ),
    "connect with an IP outside the subnet": refused(
        "network", "connect", "--ip", "10.1.1.1", "net1", "web",
        line="Invalid address 10.1.1.1: It does not belong to any of this network's subnets",
    ),
    "connect with an alias to the default bridge": refused(
        "network", "connect", "--alias", "x", "bridge", "user1",
        line="network-scoped alias is supported only for containers in user defined networks",
    ),
    "disconnect what is not connected": refused(
        "network", "disconnect", "net1", "web",
        line="container {web} is not connected to network net1",
    ),
    # containers, refused while validating ------------------------------------------------
    "container name taken": refused(
        "run", "-d", "--name", "web",
        line='Conflict. The container name "/web" is already in use by container "{web}". '
        "You have to remove (or rename) that container to be able to reuse that name.",
    ),
    "container name invalid": refused(
        "run", "-d", "--name", "b@d",
        line="Invalid container name (b@d), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    ),
    "run on an unknown network": refused("run", "-d", "--name", "new1", "--network", "nosuch",
                                         line="network nosuch not found"),
    "--ip on the default bridge": refused(
        "run", "-d", "--name", "new2", "--ip", "172.17.0.50",
        line="user specified IP address is supported on user defined networks only",
    ),
    # the container row is written before the address is refused: the store rolls back
    "--ip taken": refused("run", "-d", "--name", "new3", "--network", "net1",
                          "--ip", "172.31.1.10", line="Address already in use"),
    "unknown protocol": refused("run", "-d", "--name", "new6", "-p", "80:80/xyz",
                                line="invalid proto: xyz"),
    "ranges of different lengths": refused(
        "run", "-d", "--name", "new7", "-p", "1-3:1-2",
        line="invalid ranges specified for container and host Ports: 1-2 and 1-3",
    ),
    "container port not a number": refused("run", "-d", "--name", "new8", "-p", "abc",
                                            line="invalid containerPort: abc"),
    "host port too large": refused("run", "-d", "--name", "new9", "-p", "99999:80",
                                   line="invalid hostPort: 99999"),
    "host IP invalid": refused("run", "-d", "--name", "new10", "-p", "300.1.1.1:80:80",
                               line="invalid IP address: 300.1.1.1"),
    "links in host mode": refused(
        "run", "-d", "--name", "new11", "--network", "host", "--link", "web:w",
        line="conflicting options: host type networking can't be used with links. "
        "This would result in undefined behavior",
    ),
    "join an unknown container": refused(
        "run", "-d", "--name", "new12", "--network", "container:nosuch",
        line="No such container: nosuch",
    ),
    "join a stopped container": refused(
        "run", "-d", "--name", "new13", "--network", "container:stopped",
        line="cannot join network of a non running container: {stopped}",
    ),
    "publish in container mode": refused(
        "run", "-d", "--name", "new14", "--network", "container:web", "-p", "80",
        line="conflicting options: port publishing and the container type network mode",
    ),
    # links are resolved (containers._resolve_links) before the sandbox is made
    "link to a stopped container": refused(
        "run", "-d", "--name", "new15", "--link", "stopped:s",
        line="Cannot link to a non running container: /stopped AS /new15/s",
    ),
    "link to a container on another network": refused(
        "run", "-d", "--name", "new16", "--link", "user1:u",
        line="Cannot link to /user1, as it does not belong to the default network",
    ),
    "alias on the default bridge": refused(
        "run", "-d", "--name", "new17", "--network-alias", "x",
        line="network-scoped alias is supported only for containers in user defined networks",
    ),
    "hostname invalid": refused("run", "-d", "--name", "new18", "--hostname", "bad_host!",
                                line="invalid hostname format: bad_host!"),
    "expose not a port": refused("run", "-d", "--name", "new19", "--expose", "abc",
                                 line="invalid range format for --expose: abc"),
    "sctp": refused(
        "run", "-d", "--name", "new21", "-p", "9000:9000/sctp",
        line="publishing sctp ports is not supported by Hawser's datapath: 9000/sctp",
    ),
    "rm an unknown container": refused("rm", "nosuch", line="No such container: nosuch"),
    "rm a running container": refused(
        "rm", "web",
        line="You cannot remove a running container {web}. Stop the container before "
        "attempting removal or force remove",
    ),
    "exec in an unknown container": refused("exec", "nosuch", "--", "true",
                                            line="No such container: nosuch"),
    "port not published": Row(["port", "web", "81"],
                              "Error: no public port '81/tcp' published for web", REFUSED),
}  # fmt: skip

_TAKEN = "Bind for {ip}:{port} failed: port is already allocated"
_HELD = "failed to bind host port {ip}:{port}/{proto}: address already in use"


def taken(port: int | str, ip: str = "0.0.0.0") -> str:
    return _TAKEN.format(ip=ip, port=port)


def held(port: int, proto: str = "tcp", ip: str = "0.0.0.0") -> str:
    return _HELD.format(ip=ip, port=port, proto=proto)


# Rows refused for their published ports before any kernel work (see the module docstring).
PORT_ROWS: dict[str, Row] = {
    "port taken by a container": refused("run", "-d", "--name", "r1", "-p", "8080:80",
                                         line=taken(8080)),
    "port held by a node process": refused("run", "-d", "--name", "r2", "-p", "9999:80",
                                           line=held(9999)),
    "same host port twice": refused("run", "-d", "--name", "r3", "-p", "8090:80",
                                    "-p", "8090:81", line=taken(8090)),
    "loopback binding under a wildcard one": refused(
        "run", "-d", "--name", "r4", "-p", "127.0.0.1:8080:80", line=taken(8080, "127.0.0.1")
    ),
    "uplink binding under a wildcard one": refused(
        "run", "-d", "--name", "r5", "-p", "10.99.0.1:8080:80", line=taken(8080, "10.99.0.1")
    ),
    "range whose last port is taken": refused("run", "-d", "--name", "r6",
                                              "-p", "8079-8080:79-80", line=taken(8080)),
    "host range entirely held": refused("run", "-d", "--name", "r7", "-p", "9998-9999:80",
                                        line=taken("9998-9999")),
    "udp port held by a node process": refused("run", "-d", "--name", "r8", "-p", "9997:53/udp",
                                               line=held(9997, "udp")),
    "host IP the node does not have": refused(
        "run", "-d", "--name", "r9", "-p", "10.1.2.3:8081:80",
        line="failed to bind host port 10.1.2.3:8081/tcp: cannot assign requested address",
    ),
    "user network, port taken": refused("run", "-d", "--name", "r10", "--network", "net1",
                                        "-p", "8080:80", line=taken(8080)),
    "static IP, port taken": refused("run", "-d", "--name", "r11", "--network", "net1",
                                     "--ip", "172.31.1.20", "-p", "8080:80", line=taken(8080)),
    "alias, port held": refused("run", "-d", "--name", "r12", "--network", "net1",
                                "--network-alias", "svc", "-p", "9999:80", line=held(9999)),
    "link, port taken": refused("run", "-d", "--name", "r13", "--link", "web:w",
                                "-p", "8080:80", line=taken(8080)),
    "hostname dns env, port taken": refused(
        "run", "-d", "--name", "r14", "--hostname", "h14", "--dns", "10.99.0.53", "-e", "A=1",
        "-p", "8080:80", line=taken(8080),
    ),
    "publish-all with a taken port": refused(
        "run", "-d", "--name", "r15", "--expose", "7000-7010", "-P", "-p", "8080:80",
        line=taken(8080),
    ),
    "third binding taken": refused("run", "-d", "--name", "r16", "-p", "8091:80",
                                   "-p", "8092:81", "-p", "8080:82", line=taken(8080)),
    "second udp binding held": refused("run", "-d", "--name", "r17", "-p", "8093:80/udp",
                                       "-p", "9997:81/udp", line=held(9997, "udp")),
    "with a command and --rm": refused("run", "-d", "--name", "r18", "--rm", "-p", "8080:80",
                                       "--", "sleep", "600", line=taken(8080)),
    "attached run": refused("run", "--name", "r19", "-p", "8080:80", "--", "true",
                            line=taken(8080)),
    "user network, loopback port held": refused(
        "run", "-d", "--name", "r20", "--network", "net1", "-p", "127.0.0.1:9999:80",
        line=held(9999, ip="127.0.0.1"),
    ),
    "range claimed, then a held port": refused(
        "run", "-d", "--name", "r21", "-p", "8094-8095:80-81", "-p", "9999:82", line=held(9999)
    ),
    "generated name, port taken": refused("run", "-d", "-p", "8080:80", line=taken(8080)),
    "user-network link, port taken": refused(
        "run", "-d", "--name", "r23", "--network", "net1", "--link", "user1:u", "-p", "8080:80",
        line=taken(8080),
    ),
    "everything at once": refused(
        "run", "-d", "--name", "r24", "--network", "net1", "--ip", "172.31.1.21",
        "--network-alias", "a", "--network-alias", "b", "--hostname", "h24",
        "--dns", "1.1.1.1", "-e", "X=y", "--expose", "5000/udp", "-p", "5000:5000/udp",
        "-p", "8080:80", line=taken(8080),
    ),
    "tcp taken before udp is tried": refused(
        "run", "-d", "--name", "r25", "-p", "8080:80/tcp", "-p", "8080:80/udp", line=taken(8080)
    ),
    "explicit wildcard, port held": refused("run", "-d", "--name", "r26",
                                            "-p", "0.0.0.0:9998:80", line=held(9998)),
}  # fmt: skip

ALL_ROWS = {**BAD_INPUTS, **PORT_ROWS}


# ---- the snapshot ------------------------------------------------------------------------
@dataclass
class Snapshot:
    view: dict[str, Any]
    probe_index: int  # ifindex the probe link got: the node's link counter at that moment

    def changed(self, other: Snapshot) -> list[str]:
        return sorted(k for k in self.view if self.view[k] != other.view.get(k))

    def diff(self, before: Snapshot) -> dict[str, Any]:
        """What changed since ``before``, down to the map, table or folder that did."""
        out: dict[str, Any] = {}
        for key in self.changed(before):
            old, new = before.view.get(key), self.view[key]
            if isinstance(old, dict) and isinstance(new, dict):
                out[key] = {
                    sub: {"before": old.get(sub), "after": new.get(sub)}
                    for sub in sorted(set(old) | set(new))
                    if old.get(sub) != new.get(sub)
                }
            else:
                out[key] = {"before": old, "after": new}
        return out


def _json_stream(text: str) -> list[Any]:
    """The JSON values of a `-batch` run, one per command that printed."""
    decoder, pos, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while pos < len(text):
        value, pos = decoder.raw_decode(text, pos)
        out.append(value)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _batch(argv: list[str], commands: list[str]) -> list[Any]:
    """Run ``commands`` through one batch-mode process of ip, tc or bpftool (JSON output)."""
    batch = ["-j", "batch", "file", "-"] if argv[0] == "bpftool" else ["-j", "-batch", "-"]
    r = subprocess.run([*argv, *batch], input="\n".join(commands) + "\n",
                       capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return _json_stream(r.stdout)


def _netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def _processes(netns_paths: dict[str, str]) -> dict[str, list[str]]:
    inodes = {_netns_inode(p): name for name, p in netns_paths.items()}
    out: dict[str, list[str]] = {name: [] for name in netns_paths}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            if ino not in inodes:
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        out[inodes[ino]].append(f"{pid} {cmd.strip()}")
    return {name: sorted(procs) for name, procs in out.items()}


def _store(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]  # fmt: skip
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in tables}
    finally:
        conn.close()


def _ipam(db: Path) -> dict[str, Any]:
    """What the allocators read: addresses per network, host ports per protocol."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        addresses = conn.execute(
            "SELECT n.name, e.ip FROM endpoints e JOIN networks n ON n.id = e.network_id"
        )
        ports = conn.execute("SELECT proto, host_ip, host_port FROM port_bindings")
        by_net: dict[str, list[str]] = {}
        for net, ip in addresses:
            by_net.setdefault(net, []).append(ip)
        return {"addresses": {k: sorted(v) for k, v in by_net.items()},
                "host_ports": sorted(ports)}  # fmt: skip
    finally:
        conn.close()


def _maps(node_name: str) -> dict[str, Any]:
    # not hawser_nat_closed: 262,144 fixed slots only the datapath writes, when a masqueraded
    # flow closes (these tests send no traffic); dumping it twice a test costs seconds
    pins = sorted(
        p
        for p in Path("/sys/fs/bpf/hawser", node_name).glob("*/*")
        if p.name != "hawser_nat_closed"
    )
    assert pins, f"no pinned maps for node {node_name}"
    (dumps,) = _batch(["bpftool"], [f"map dump pinned {p}" for p in pins])  # one JSON array
    out: dict[str, Any] = {}
    for pin, dump in zip(pins, dumps, strict=True):
        entries = [e.get("formatted", e) for e in dump["output"]]  # decoded through BTF
        if any("values" in e for e in entries):  # per-CPU counters: which keys exist
            out[pin.name] = sorted(json.dumps(e["key"], sort_keys=True) for e in entries)
        else:
            out[pin.name] = sorted(
                json.dumps([e["key"], e["value"]], sort_keys=True) for e in entries
            )
    return out


def _links(links: list[dict[str, Any]]) -> list[Any]:
    keep = ("ifname", "link_type", "master", "mtu", "address", "operstate")
    return sorted([link.get(k) for k in keep] for link in links)


def _addrs(addrs: list[dict[str, Any]]) -> list[Any]:
    return sorted(
        (a["ifname"], i["local"], i["prefixlen"])
        for a in addrs
        for i in a.get("addr_info", [])
        if i.get("family") == "inet"
    )


def _routes(routes: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in routes)


def snapshot(hn: HawserNode) -> Snapshot:
    node_ns = f"/run/netns/{hn.node_ns}"
    enter = ["nsenter", f"--net={node_ns}"]
    probe, links, addrs, routes = _batch([*enter, "ip", "-4"], [
        f"link add name {PROBE_LINK} type bridge", f"link show dev {PROBE_LINK}",
        f"link del dev {PROBE_LINK}", "link show", "addr show", "route show table all",
    ])  # fmt: skip
    devs = [link["ifname"] for link in links]
    tc = _batch([*enter, "tc"], ["qdisc show"] + [
        f"filter show dev {d} {hook}" for d in devs for hook in ("ingress", "egress")
    ])  # fmt: skip
    sandboxes = sorted(n for n in os.listdir("/run/netns") if n.startswith(f"hw-{hn.name}-"))
    inside = {}
    for ns in sandboxes:
        ns_links, ns_addrs, ns_routes = _batch(
            ["ip", "-4", "-n", ns], ["link show", "addr show", "route show table all"]
        )
        inside[ns] = [_links(ns_links), _addrs(ns_addrs), _routes(ns_routes)]
    etc = Path("/etc/netns")
    folders = {
        f.name: {p.name: p.read_text() for p in sorted(f.iterdir())}
        for f in sorted(etc.glob(f"hw-{hn.name}-*"))
    }
    supervised = {
        d.name: sorted(p.name for p in d.iterdir())
        for d in sorted((hn.state_dir / "containers").glob("*"))
    }
    db = hn.state_dir / "hawser.db"
    view = {
        "store": _store(db),
        "ipam": _ipam(db),
        "bpf maps": _maps(hn.name),
        "tc": [json.dumps(x, sort_keys=True) for x in tc],
        "node links": _links(links),
        "node addresses": _addrs(addrs),
        "node routes": _routes(routes),
        "sandboxes": inside,
        "/etc/netns": folders,
        "supervisor folders": supervised,
        "processes": _processes({"node": node_ns, **{ns: f"/run/netns/{ns}" for ns in sandboxes}}),
    }
    return Snapshot(view, int(probe[0]["ifindex"]))


# ---- the world ---------------------------------------------------------------------------
@dataclass
class World:
    hn: HawserNode
    ids: dict[str, str]
    state: Snapshot  # as the last row left it


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    hn = HawserNode(
        tmp_path_factory.mktemp("bad"), ["--uplink", "uplink0", "--resync-interval", "0"]
    )
    holder: subprocess.Popen[str] | None = None
    try:
        hn.start()
        hn.cli("network", "create", "--subnet", "172.31.1.0/24", "net1")
        hn.cli("run", "-d", "--name", "web", "-p", "8080:80", "--expose", "5432",
               "--", "sleep", "600")  # fmt: skip
        hn.cli("run", "-d", "--name", "user1", "--network", "net1", "--ip", "172.31.1.10")
        hn.cli("run", "--name", "stopped", "--", "true")
        ports = [f"{proto}/{p}" for proto, nums in NODE_HELD.items() for p in nums]
        holder = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{hn.node_ns}", "python3", "-c", HOLD_PORTS, *ports],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline() == "READY\n"
        ids = {name: hn.json("inspect", name)[0]["Id"] for name in ("web", "user1", "stopped")} | {
            "net1": hn.json("network", "inspect", "net1")[0]["Id"]
        }
        yield World(hn, ids, snapshot(hn))
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        hn.close()


@pytest.mark.parametrize("name", list(ALL_ROWS))
def test_bad_input_is_refused_and_changes_nothing(world: World, name: str) -> None:
    row = ALL_ROWS[name]
    before = world.state
    result = world.hn.cli(*row.args, check=False)
    after = world.state = snapshot(world.hn)  # the next row starts from what is there now
    assert (result.returncode, result.stderr) == (row.code, row.line.format(**world.ids) + "\n")
    assert result.stdout == ""
    assert after.diff(before) == {}
    links_made = after.probe_index - before.probe_index - 1
    if name in PORT_ROWS:
        assert links_made == 0, "a port conflict was found only after kernel work"


def test_port_rows_are_enough_and_distinct() -> None:
    assert len(PORT_ROWS) >= 20
    assert not set(PORT_ROWS) & set(BAD_INPUTS)
    assert len({tuple(r.args) for r in ALL_ROWS.values()}) == len(ALL_ROWS)


def test_without_the_conflicts_the_same_shapes_succeed(world: World) -> None:
    """Positive control: what the rows were refused for is the only obstacle, and the
    snapshot sees every kind of state a container makes (so "unchanged" means something)."""
    hn = world.hn
    before = snapshot(hn)
    hn.cli("run", "-d", "--name", "ok", "--network", "net1", "--ip", "172.31.1.20",
           "--network-alias", "svc", "--link", "user1:u", "--hostname", "h", "--dns", "1.1.1.1",
           "-e", "X=y", "--expose", "7000-7001", "-p", "8090:80", "-p", "8091-8092:81-82",
           "-p", "9996:53/udp", "-p", "127.0.0.1:9995:80", "--", "sleep", "600")  # fmt: skip
    hn.cli("run", "-d", "--name", "ok2", "--link", "web:w", "-p", "8093:80", "--", "sleep", "600")
    during = snapshot(hn)
    assert during.probe_index - before.probe_index - 1 >= 2  # two veths (the witness works)
    unchanged = set(before.view) - set(during.changed(before))
    assert unchanged == {"node addresses", "node routes"}, unchanged
    hn.cli("rm", "-f", "ok", "ok2")
    after = snapshot(hn)
    assert after.diff(before) == {}
