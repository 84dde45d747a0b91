"""A daemon killed in the middle of an operation: after a restart the kernel matches the store.

Kernel objects and map entries are made before the store commits, so a kill -9 in
between leaves state whose rows were rolled back. These tests kill the daemon at such
moments (exactly, and at random) and check, after the restart, that every container has
its netns, veths and map entries, and that nothing exists without a container.
"""

from __future__ import annotations

import ast
import ctypes
import http.client
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from controller.datapath.types import PIN_VERSION
from testbed import netns
from testbed.hawser import EXT_IP, UPLINK_IP, HawserNode
from tests.e2e import census

DEAD_PORT = 22012


def _curl(node: HawserNode, port: int) -> str:
    got = node.in_ext("curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://{UPLINK_IP}:{port}/", check=False)  # fmt: skip
    return got.stdout


def _wait_http(node: HawserNode, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _curl(node, port) != "200":
        assert time.monotonic() < deadline, f"nothing answers on port {port}"
        time.sleep(0.1)


class _PortWatch:
    """Spins on the pinned hawser_ports map until a (tcp, any, port) entry exists."""

    def __init__(self, node: HawserNode, port: int) -> None:
        from bcc.libbcc import lib

        lib.bpf_obj_get.restype = ctypes.c_int
        lib.bpf_obj_get.argtypes = [ctypes.c_char_p]
        self._lib = lib
        pin = Path("/sys/fs/bpf/hawser") / node.name / PIN_VERSION / "hawser_ports"
        self._fd = lib.bpf_obj_get(str(pin).encode())
        assert self._fd >= 0, f"cannot open {pin}"
        # struct hw_port_key {u32 host_ip; u16 host_port (network order); u8 proto; u8 pad}
        self._key = (ctypes.c_uint8 * 8)(0, 0, 0, 0, port >> 8, port & 0xFF, 6, 0)
        self._value = (ctypes.c_uint8 * 12)()

    def wait(self, timeout: float) -> str:
        """Return the entry's backend IP as soon as it appears."""
        deadline = time.monotonic() + timeout
        while self._lib.bpf_lookup_elem(self._fd, self._key, self._value) != 0:
            assert time.monotonic() < deadline, "the port entry never appeared"
        return ".".join(str(b) for b in self._value[:4])

    def close(self) -> None:
        os.close(self._fd)


class _Background:
    """Runs ``fn`` in a thread that the daemon's death interrupts; any other error is kept
    for ``join`` to raise (an unexpected answer from the daemon fails the test)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                fn()
            except (OSError, http.client.HTTPException):  # the daemon died under it
                pass
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def test_run_killed_before_commit_gives_its_port_to_no_one(node: HawserNode) -> None:
    """The issue's reproduction, with the kill placed exactly between map write and commit."""
    body = {
        "Name": "cr12",
        "Publish": [f"{DEAD_PORT}:80"],
        "Cmd": ["sleep", "600"],
        "Env": [census.marker(node)],
    }
    dead_ip = ""
    for _attempt in range(5):
        watch = _PortWatch(node, DEAD_PORT)
        try:
            request = _Background(lambda: node.api("POST", "/v1/containers", body))
            dead_ip = watch.wait(timeout=20)
            node.kill()
        finally:
            watch.close()
        request.join()
        node.start()
        if node.api("GET", "/v1/containers/cr12")[0] == 404:
            break  # killed before the commit: what the test is about
        assert node.api("DELETE", "/v1/containers/cr12?force=1")[0] == 204  # too late; again
    else:
        raise AssertionError("the kill never landed before the commit in 5 attempts")

    ports = {census.ntohs(e["key"]["host_port"]) for e in census.pinned(node, "hawser_ports")}
    assert DEAD_PORT not in ports
    status, _ = node.api("POST", "/v1/containers", {
        "Name": "next", "Publish": ["22013:80"], "Env": [census.marker(node)],
        "Cmd": ["python3", "-m", "http.server", "80"],
    })  # fmt: skip
    assert status == 201
    assert node.ip_of("next") == dead_ip  # the address the dead entry pointed to
    _wait_http(node, 22013)  # positive control: its own published port answers
    assert _curl(node, DEAD_PORT) != "200"
    assert node.cli("port", "next").stdout.split() == ["80/tcp", "->", "0.0.0.0:22013"]
    census.check(node)


def test_a_bare_netns_file_left_by_a_killed_create_is_rebuilt(node: HawserNode) -> None:
    """A create killed between touching /run/netns/NAME and mounting the netns leaves a plain
    file: the restart must see no sandbox there and build one (setns on it fails)."""
    status, _ = node.api("POST", "/v1/containers", {"Name": "bare"})  # a sandbox, no process
    assert status == 201
    sandbox = node.sandbox("bare")
    node.kill()
    subprocess.run(["ip", "netns", "del", sandbox], check=True)  # the netns and its veth go
    Path("/run/netns", sandbox).touch()  # what the killed create left
    node.start()
    assert node.cli("exec", "bare", "--", "ip", "-br", "addr", "show", "eth0").returncode == 0
    ip = node.ip_of("bare")
    assert node.in_node("ping", "-c1", "-W2", ip).returncode == 0
    census.check(node)


def _delete_rows(node: HawserNode, name: str) -> None:
    """What a rolled-back transaction leaves: the kernel has it, the store does not."""
    db = sqlite3.connect(node.state_dir / "hawser.db")
    try:
        with db:
            (doc,) = db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
            for table in ("port_bindings", "endpoints"):
                db.execute(f"DELETE FROM {table} WHERE container_id=?", (doc,))
            db.execute("DELETE FROM containers WHERE id=?", (doc,))
    finally:
        db.close()


def test_what_the_store_does_not_know_is_swept_and_live_flows_stay(node: HawserNode) -> None:
    env = [census.marker(node)]
    for name, port in (("keep", 8081), ("gone", 8082)):
        status, reply = node.api("POST", "/v1/containers", {
            "Name": name, "Publish": [f"{port}:80"], "Env": env,
            "Cmd": ["python3", "-m", "http.server", "80"],
        })  # fmt: skip
        assert status == 201, reply
    node.cli("network", "create", "--subnet", "172.30.40.0/24", "side")
    node.cli("network", "connect", "side", "gone")
    _wait_http(node, 8081)
    _wait_http(node, 8082)  # a published-port flow (CT) of "gone"
    node.cli("exec", "gone", "--", "ping", "-c1", "-W2", EXT_IP)  # a masqueraded one (CT+NAT)
    gone_ips = {node.ip_of("gone"), node.ip_of("gone", "side")}
    ct_sources = {census.u32_ip(e["key"]["saddr"]) for e in census.pinned(node, "hawser_ct")}
    assert node.ip_of("gone") in ct_sources  # the flows exist before the restart
    gone_netns = node.sandbox("gone")
    gone_ns_id = census.ns_id(f"/run/netns/{gone_netns}")
    gone_pids = [p for p, ns in census.tagged_processes(census.marker(node)).items()
                 if ns == gone_ns_id]  # fmt: skip
    assert len(gone_pids) == 1  # its http.server
    node.kill()
    _delete_rows(node, "gone")
    node.start()

    want = census.check(node)
    assert gone_netns not in want.netns and not gone_ips & set(want.endpoints)
    assert not Path(f"/proc/{gone_pids[0]}").exists() or _zombie(gone_pids[0])
    assert _curl(node, 8082) != "200"
    assert _curl(node, 8081) == "200"
    node.cli("exec", "keep", "--", "ping", "-c1", "-W2", EXT_IP)


def _bpftool_update(node: HawserNode, name: str, key: bytes, value: bytes) -> None:
    pin = Path("/sys/fs/bpf/hawser") / node.name / PIN_VERSION / name
    subprocess.run(
        ["bpftool", "map", "update", "pinned", str(pin),
         "key", "hex", *(f"{b:02x}" for b in key), "value", "hex", *(f"{b:02x}" for b in value)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def test_periodic_repair_deletes_and_rewrites_map_entries(node: HawserNode) -> None:
    node.stop()
    node.start("--resync-interval", "0.5")
    status, _ = node.api("POST", "/v1/containers", {
        "Name": "web", "Publish": ["8083:80"], "Env": [census.marker(node)],
        "Cmd": ["python3", "-m", "http.server", "80"],
    })  # fmt: skip
    assert status == 201
    _wait_http(node, 8083)
    stray_ip = bytes([172, 17, 0, 99])
    log_mark = len(node.log())
    # a port and an endpoint no container justifies, and the real port sent elsewhere
    _bpftool_update(node, "hawser_ports", bytes([0, 0, 0, 0, 0x5D, 0xC0, 6, 0]),
                    stray_ip + bytes([0, 80, 0, 0, 1, 0, 0, 0]))  # fmt: skip
    _bpftool_update(node, "hawser_endpoints", stray_ip, bytes([1, 0, 0, 0, 1, 0, 0, 0]) + bytes(8))
    _bpftool_update(node, "hawser_ports", bytes([0, 0, 0, 0, 8083 >> 8, 8083 & 0xFF, 6, 0]),
                    stray_ip + bytes([0, 80, 0, 0, 1, 0, 0, 0]))  # fmt: skip
    deadline = time.monotonic() + 15
    while True:  # the repair reports what it found: exactly the damage done
        fixed: dict[str, int] = {}
        for line in node.log()[log_mark:].splitlines():
            if "datapath maps made to match the store: " in line:
                for k, v in ast.literal_eval(line.split("store: ", 1)[1]).items():
                    fixed[k] = fixed.get(k, 0) + v
        if fixed == {"ports deleted": 1, "endpoints deleted": 1, "ports rewritten": 1}:
            break
        assert time.monotonic() < deadline, fixed
        time.sleep(0.2)
    census.check(node)
    _wait_http(node, 8083, timeout=5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_deleted_uplink_leaves_the_maps(node: HawserNode) -> None:
    def uplink_state() -> tuple[set[int], set[str]]:
        ups = {e["key"] for e in census.pinned(node, "hawser_uplinks")}
        addrs = {census.u32_ip(e["key"]) for e in census.pinned(node, "hawser_node_addrs")}
        return ups, addrs

    def wait_for(cond: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 15
        while not cond():
            assert time.monotonic() < deadline, uplink_state()
            time.sleep(0.2)

    node.in_node("ip", "link", "add", "up2", "type", "veth", "peer", "name", "up2p")
    node.in_node("ip", "addr", "add", "10.98.0.1/24", "dev", "up2")
    node.in_node("ip", "link", "set", "up2", "up")
    up2 = netns.links(node.node_ns)["up2"]
    wait_for(lambda: up2 in uplink_state()[0] and "10.98.0.1" in uplink_state()[1])
    node.in_node("ip", "link", "del", "up2")  # while the daemon runs
    wait_for(lambda: up2 not in uplink_state()[0] and "10.98.0.1" not in uplink_state()[1])
    assert uplink_state()[0] == {netns.links(node.node_ns)["uplink0"]}

    node.in_node("ip", "link", "add", "up3", "type", "veth", "peer", "name", "up3p")
    node.in_node("ip", "addr", "add", "10.97.0.1/24", "dev", "up3")
    node.in_node("ip", "link", "set", "up3", "up")
    up3 = netns.links(node.node_ns)["up3"]
    wait_for(lambda: up3 in uplink_state()[0])
    node.kill()
    node.in_node("ip", "link", "del", "up3")  # while the daemon is down
    node.start()
    ups, addrs = uplink_state()
    assert ups == {netns.links(node.node_ns)["uplink0"]} and "10.97.0.1" not in addrs
    census.check(node)


# the kill -9 loop ------------------------------------------------------------------------
class _Workload:
    """Creates with -p, removes and connects, back to back, until the daemon dies."""

    def __init__(self, node: HawserNode, rng: random.Random, first_port: int) -> None:
        self.node, self.rng, self.port = node, rng, first_port
        self.names: list[str] = []
        self.connected: set[str] = set()
        self.serial = 0

    def refresh(self) -> None:
        """Learn the containers again: the last operation may or may not have committed."""
        status, ctrs = self.node.api("GET", "/v1/containers?all=1")
        assert status == 200
        self.names = [c["Names"][0].lstrip("/") for c in ctrs]
        self.connected = {  # or not connectable: only running containers can be
            c["Names"][0].lstrip("/")
            for c in ctrs
            if "side" in c["NetworkSettings"]["Networks"] or c["State"] != "running"
        }

    def step(self) -> None:
        choices = ["create"] * (3 if len(self.names) < 6 else 1)
        if self.names:
            choices += ["remove"] * (1 if len(self.names) < 6 else 3)
        if set(self.names) - self.connected:
            choices += ["connect"] * 2
        op = self.rng.choice(choices)
        if op == "create":
            self.serial += 1
            self.port += 1
            name = f"c{self.serial}"
            status, _ = self.node.api("POST", "/v1/containers", {
                "Name": name, "Publish": [f"{self.port}:80"], "Cmd": ["sleep", "600"],
                "Env": [census.marker(self.node)],
            })  # fmt: skip
            assert status == 201
            self.names.append(name)
        elif op == "remove":
            name = self.rng.choice(self.names)
            assert self.node.api("DELETE", f"/v1/containers/{name}?force=1")[0] == 204
            self.names.remove(name)
            self.connected.discard(name)
        else:
            name = self.rng.choice(sorted(set(self.names) - self.connected))
            status, _ = self.node.api("POST", "/v1/networks/side/connect", {"Container": name})
            assert status == 200
            self.connected.add(name)

    def run(self) -> None:
        while True:
            self.step()


def test_fifty_kills_at_random_moments(node: HawserNode) -> None:
    seed = int(os.environ.get("HAWSER_CRASH_SEED") or random.randrange(2**32))
    print(f"HAWSER_CRASH_SEED={seed}")
    rng = random.Random(seed)
    node.cli("network", "create", "--subnet", "172.30.41.0/24", "side")
    work = _Workload(node, rng, first_port=23000)
    started = time.monotonic()
    for i in range(50):
        work.refresh()
        worker = _Background(work.run)
        time.sleep(rng.uniform(0, 0.3))  # the random moment of the kill
        node.kill()
        worker.join()
        node.start()
        try:
            census.check(node)
        except AssertionError as exc:
            raise AssertionError(f"after kill {i + 1} (seed {seed}): {exc}") from exc
    took = time.monotonic() - started
    reports = [ast.literal_eval(line.split("reconciled: ", 1)[1])
               for line in node.log().splitlines() if "reconciled: " in line][-50:]  # fmt: skip
    repaired = sum(1 for r in reports if any(r.values()))
    print(f"50 kills, restarts and checks in {took:.1f} s; {repaired} restarts repaired something")
    assert repaired >= 10  # the kills did land inside operations
