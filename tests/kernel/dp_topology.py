"""Test topology for the datapath: ext (outside host) <-> node <-> containers.

    ext netns                    node netns                         container netns
    eth0 10.99.0.2/24 ---- veth up0 10.99.0.1/24 (uplink)
                               bridge hw0 172.20.0.1/16 --- hv<n> ==== eth0 172.20.0.x/16
                               bridge hw1 172.21.0.1/16 --- hv<n> ==== eth0 172.21.0.x/16

Every name carries a random "t-<hex>" prefix; close() removes all of it.
Only addresses inside these namespaces are ever used. ip_forward=1 is set in
the node netns only.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import socket
import subprocess
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PY = "/usr/bin/python3"
_libc = ctypes.CDLL(None, use_errno=True)
EXT_IP = "10.99.0.2"
NODE_IP = "10.99.0.1"
NETS = {1: ("hw0", "172.20.0.1", 16), 2: ("hw1", "172.21.0.1", 16), 3: ("hw2", "172.22.0.1", 16)}
ETHTOOL = next(
    (p for p in ("/usr/sbin/ethtool", "/sbin/ethtool", "/usr/bin/ethtool") if os.path.exists(p)),
    "ethtool",
)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r


def ns_cmd(ns: str, *, nsenter: bool = False) -> list[str]:
    """Command prefix running in ns; nsenter keeps /sys/fs/bpf and the mount ns."""
    if nsenter:
        return ["nsenter", f"--net=/run/netns/{ns}"]
    return ["ip", "netns", "exec", ns]


SERVER = textwrap.dedent(
    r"""
    import json, socket, sys
    proto, port = sys.argv[1], int(sys.argv[2])
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    if proto == "tcp":
        s.listen(64)
    print("READY", flush=True)
    while True:
        if proto == "tcp":
            c, peer = s.accept()
            c.settimeout(10)
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(json.dumps({"peer": list(peer), "data": data.decode()}).encode() + b"\n")
            c.close()
        else:
            data, peer = s.recvfrom(65536)
            s.sendto(json.dumps({"peer": list(peer), "data": data.decode()}).encode(), peer)
        print(json.dumps(list(peer)), flush=True)
    """
)

CLIENT = textwrap.dedent(
    r"""
    import json, socket, sys
    proto, host, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 3
    out = {}
    try:
        if proto == "tcp":
            s = socket.create_connection((host, port), timeout=timeout)
            out["peername"] = list(s.getpeername())
            out["sockname"] = list(s.getsockname())
            s.sendall(payload.encode())
            # the server echoes per segment it reads: join the replies until all came back
            buf, data, reply = b"", "", None
            while len(data) < len(payload):
                while b"\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        raise ConnectionError("closed before the whole echo came back")
                    buf += d
                line, buf = buf.split(b"\n", 1)
                part = json.loads(line)
                reply = reply or part
                data += part["data"]
            out["reply"] = dict(reply, data=data)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            s.sendto(payload.encode(), (host, port))
            data, frm = s.recvfrom(65536)
            out["from"] = list(frm)
            out["reply"] = json.loads(data)
    except OSError as e:
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
    """
)


@dataclass
class Container:
    name: str  # netns
    ip: str
    mac: str
    host_if: str  # host-side veth name in node
    ifindex: int  # of host_if in node
    network: int


@dataclass
class Topology:
    prefix: str = field(default_factory=lambda: "t-" + secrets.token_hex(3))
    containers: list[Container] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ext(self) -> str:
        return f"{self.prefix}-ext"

    @property
    def node(self) -> str:
        return f"{self.prefix}-node"

    def n(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "-n", self.node, *cmd, check=check)

    def build(self) -> Topology:
        for ns in (self.ext, self.node):
            sh("ip", "netns", "add", ns)
        for ns in (self.ext, self.node):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.n("link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", self.ext)
        self.n("addr", "add", f"{NODE_IP}/24", "dev", "up0")
        self.n("link", "set", "up0", "up")
        sh("ip", "-n", self.ext, "addr", "add", f"{EXT_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.ext, "link", "set", "eth0", "up")
        for br, gw, plen in NETS.values():
            self.n("link", "add", br, "type", "bridge")
            self.n("addr", "add", f"{gw}/{plen}", "dev", br)
            self.n("link", "set", br, "up")
        return self

    def ifindex(self, ns: str, dev: str) -> int:
        out = sh("ip", "-n", ns, "-j", "link", "show", dev).stdout
        return int(json.loads(out)[0]["ifindex"])

    def mac(self, ns: str, dev: str) -> str:
        out = sh("ip", "-n", ns, "-j", "link", "show", dev).stdout
        return str(json.loads(out)[0]["address"])

    def add_container(self, ip: str, network: int = 1) -> Container:
        idx = len(self.containers)
        name = f"{self.prefix}-c{idx}"
        host_if = f"hv{idx}"
        br, gw, plen = NETS[network]
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        self.n("link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", name)
        self.n("link", "set", host_if, "master", br)
        self.n("link", "set", host_if, "up")
        sh("ip", "-n", name, "addr", "add", f"{ip}/{plen}", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "route", "add", "default", "via", gw)
        c = Container(
            name, ip, self.mac(name, "eth0"), host_if, self.ifindex(self.node, host_if), network
        )
        self.containers.append(c)
        return c

    def offload(self, ns: str, dev: str, on: bool) -> None:
        sh("ip", "netns", "exec", ns, ETHTOOL, "-K", dev, "tx", "on" if on else "off")

    # ---- traffic ------------------------------------------------------------
    def server(self, ns: str, proto: str, port: int) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [*ns_cmd(ns), PY, "-c", SERVER, proto, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(
                f"server in {ns} failed: {line} {p.stderr.read() if p.stderr else ''}"
            )
        return p

    def client(
        self,
        ns: str,
        proto: str,
        host: str,
        port: int,
        payload: str = "hello",
        *,
        nsenter: bool = False,
        timeout: float = 3,
    ) -> dict[str, Any]:
        r = subprocess.run(
            [
                *ns_cmd(ns, nsenter=nsenter),
                PY,
                "-c",
                CLIENT,
                proto,
                host,
                str(port),
                payload,
                str(timeout),
            ],
            capture_output=True,
            text=True,
            timeout=timeout + 10,
        )
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return dict(json.loads(r.stdout))

    def socket_in(self, ns: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket created inside ns (setns in a helper thread; ours is untouched)."""
        out: dict[str, Any] = {}

        def run() -> None:
            try:
                fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, 0x40000000) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                out["s"] = socket.socket(socket.AF_INET, kind)
            except BaseException as e:
                out["e"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["s"]  # type: ignore[no-any-return]

    def ping(self, ns: str, dst: str) -> bool:
        r = subprocess.run(
            [*ns_cmd(ns), "ping", "-c1", "-W1", dst], capture_output=True, timeout=10
        )
        return r.returncode == 0

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs.clear()
        for c in self.containers:
            sh("ip", "netns", "del", c.name, check=False)
        for ns in (self.node, self.ext):
            sh("ip", "netns", "del", ns, check=False)


def have_tool(name: str) -> bool:
    return any(os.access(Path(d) / name, os.X_OK) for d in os.environ.get("PATH", "").split(":"))


__all__ = ["Topology", "Container", "EXT_IP", "NODE_IP", "NETS", "sh", "have_tool"]


def start_datapath(topo: Topology, **config: Any) -> tuple[Any, Any]:
    """A started Datapath for topo's node: uplink attached, network 1 (172.20/16) masquerading.

    Returns (datapath, netlink handle in the node); the caller destroys and closes them.
    """
    from pyroute2 import NetNS

    from controller.datapath import Datapath, DatapathConfig, cookie_of

    ipr = NetNS(topo.node)
    dp = Datapath(DatapathConfig(node=topo.prefix, **config), ipr)
    try:
        dp.start(cookie_of(f"/run/netns/{topo.node}"))
        dp.attach_uplink(topo.ifindex(topo.node, "up0"), NODE_IP)
        dp.set_network(
            1, "172.20.0.0/16", "172.20.0.1", topo.mac(topo.node, "hw0"),
            icc=True, masquerade=True, internal=False, snat_ip=None,
        )  # fmt: skip
    except BaseException:
        dp.destroy()
        ipr.close()
        raise
    return dp, ipr
