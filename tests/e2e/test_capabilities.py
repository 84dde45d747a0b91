"""The systemd unit's capability bounding set, tried for real: the daemon started under exactly
that bound (``setpriv --bounding-set``, as systemd applies ``CapabilityBoundingSet=``) runs a
node whole, and the bound is a real limit.

Why each capability is there is written in deploy/hawser.service.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cli.bpf import MONITOR_BANNER
from testbed import procs
from testbed.hawser import HAWSER, REPO, HawserNode
from testbed.procs import PY, Proc

UNIT = REPO / "deploy" / "hawser.service"


def unit_caps() -> list[str]:
    text = UNIT.read_text()
    return [
        c for line in re.findall(r"^CapabilityBoundingSet=(.*)$", text, re.M) for c in line.split()
    ]


def decode(mask: str) -> set[str]:
    """A /proc/PID/status capability mask as capability names (capsh's decoding)."""
    out = subprocess.run(["capsh", f"--decode={mask}"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return {c.upper() for c in out.strip().split("=", 1)[1].split(",") if c}


class BoundedNode(HawserNode):
    """A HawserNode whose daemon runs under a capability bounding set."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.caps: Sequence[str] = unit_caps()

    def argv(self, *extra: str) -> list[str]:
        argv = super().argv(*extra)
        bound = "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in self.caps)
        cut = argv.index("--") + 1  # nsenter --net=… -- <hawser daemon …>
        return [*argv[:cut], "setpriv", "--bounding-set", bound, "--", *argv[cut:]]

    def bounding_set(self) -> set[str]:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return decode(re.search(r"^CapBnd:\s*(\w+)", status, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[BoundedNode]:
    n = BoundedNode(tmp_path)
    try:
        yield n
    finally:
        problems = n.close()
        assert not problems, problems


def _monitor_subscribes(node: HawserNode) -> Any:
    """The monitor's perf buffer opens (its banner comes only once it did)."""
    proc = Proc([HAWSER, "--socket", str(node.socket), "monitor"], lines=True)
    try:
        assert proc.err is not None
        return proc.err.until(lambda line: True, 15)
    finally:
        proc.stop(5)


def test_the_units_bounding_set_runs_a_node_whole_and_is_a_real_limit(node: BoundedNode) -> None:
    caps = unit_caps()
    assert "CAP_SYS_MODULE" not in caps and len(caps) == len(set(caps))
    node.start()
    assert node.bounding_set() == set(caps)  # the daemon runs under exactly the unit's bound

    node.cli("network", "create", "backend")
    node.cli("run", "-d", "--name", "web", "--network", "backend", "-p", "8080:80",
             "--", PY, "-m", "http.server", "80")  # fmt: skip  # port 80: NET_BIND_SERVICE
    procs.wait_tcp(node.ext_ns, node.node_ip, 8080)
    assert procs.http_get(f"http://{node.node_ip}:8080/", node.ext_ns)[0] == 200  # tc programs
    assert procs.http_get("http://127.0.0.1:8080/", node.node_ns)[0] == 200  # socket hooks
    gateway = node.json("network", "inspect", "backend")[0]["IPAM"]["Config"][0]["Gateway"]
    ping = node.cli("exec", "web", "--", "ping", "-c1", "-W3", gateway, check=False)
    assert ping.returncode == 0, ping.stderr  # a container's raw socket: CAP_NET_RAW
    dig = node.cli("exec", "web", "--", "dig", "+short", "+time=3", "+tries=1", "web")
    assert dig.stdout.split() == [node.ip_of("web", "backend")]  # the embedded DNS on :53
    assert _monitor_subscribes(node) == [MONITOR_BANNER]  # perf buffer

    # The bound is real: a restart without CAP_NET_RAW, and a container's ping cannot open
    # its raw socket any more (its processes are the daemon's and inherit the bound)
    node.stop()
    node.caps = [c for c in caps if c != "CAP_NET_RAW"]
    node.start()
    assert node.bounding_set() == set(caps) - {"CAP_NET_RAW"}
    denied = node.cli("exec", "web", "--", "ping", "-c1", "-W3", gateway, check=False)
    assert denied.returncode != 0 and "not permitted" in denied.stderr.lower(), denied
    assert procs.http_get(f"http://{node.node_ip}:8080/", node.ext_ns)[0] == 200  # the rest runs
