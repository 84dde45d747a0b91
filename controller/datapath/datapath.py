"""The Datapath: compile, pin and attach the programs, and the maps' typed access.

``Datapath`` is one object over one bcc ``BPF``; its parts, by concern, are mixins over the
same tables: ``writers`` (what operations put into the maps), ``flows`` (conntrack and NAT),
``readers`` (inspection). This module keeps the life cycle and the attach points (sock hooks
on the cgroup, tc programs on uplinks, veths and the tunnel device).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from typing import Any

from controller.errors import DatapathUnavailable, InvalidArgument

from . import cgroup, codec, prereq, source, stale, tc
from .codec import ip_u32
from .compile import compile_bpf
from .flows import Flows
from .readers import Readers
from .tables import MAPS
from .types import DatapathConfig
from .writers import MapWriters

_CFG = {n: v for v, n in source.enum("hw_config").items()}


class Datapath(MapWriters, Flows, Readers):
    """One node's eBPF datapath. See controller/datapath/__init__.py for the API contract."""

    def __init__(self, config: DatapathConfig, ipr: Any) -> None:
        if not config.node or not all(c.isalnum() or c in "-_." for c in config.node):
            raise InvalidArgument(f"invalid node name: {config.node!r}")
        self.config = config
        self.ipr = ipr
        self.bpf: Any = None
        self.compile_seconds = 0.0
        self._hooks: cgroup.SockHooks | None = None
        self._progs: dict[str, int] = {}
        self._explicit_addrs: set[int] = set()
        self._uplinks: dict[int, int] = {}
        self._gateways: dict[int, int] = {}
        self._perf_open = False

    @staticmethod
    def check_prerequisites(config: DatapathConfig) -> None:
        prereq.check(config)

    def start(self, netns_cookie: int) -> None:
        self.check_prerequisites(self.config)
        os.makedirs(self.config.pin_dir, exist_ok=True)
        from bcc import BPF

        self.bpf, self.compile_seconds = compile_bpf(self.config)
        for name in (
            "hawser_from_uplink",
            "hawser_to_uplink",
            "hawser_from_container",
            "hawser_from_tunnel",
        ):
            self._progs[name] = self.bpf.load_func(name.encode(), BPF.SCHED_CLS).fd
        self._set_config("HW_CFG_NETNS_COOKIE", netns_cookie)
        self._set_config("HW_CFG_TRACE_RATE", self.config.trace_sample_rate)
        self._set_config("HW_CFG_DROP_EVENTS_PER_SEC", self.config.drop_events_per_sec)
        self._load_state()
        # A predecessor's hooks stay attached (a daemon stop keeps them, a kill -9 cannot
        # detach): replace them, new ones first. Older pin versions' too (an upgrade), whose
        # pins then go: their maps are no program's any more.
        node_dir = self.config.pin_dir.parent
        older = [d for d in sorted(node_dir.glob("v*")) if d != self.config.pin_dir]
        leftovers = stale.predecessors(self.config.cgroup_path, [self.config.pin_dir, *older])
        self._hooks = cgroup.SockHooks(self.bpf, self.config.cgroup_path)
        self._hooks.attach()
        for hook in leftovers:
            stale.detach(self.config.cgroup_path, hook)
        for folder in older:
            shutil.rmtree(folder, ignore_errors=True)

    def _set_config(self, name: str, value: int) -> None:
        cfg = self._t("hawser_config")
        cfg[ctypes.c_uint(_CFG[name])] = ctypes.c_ulonglong(value)

    def set_trace_rate(self, rate: int) -> None:
        """Trace 1 of ``rate`` forwarded packets from now on (0 = none)."""
        if not 0 <= rate < 2**32:
            raise InvalidArgument(f"invalid trace sample rate: {rate}")
        self._set_config("HW_CFG_TRACE_RATE", rate)

    def _get_config(self, name: str) -> int:
        cfg = self._t("hawser_config")
        return int(cfg[ctypes.c_uint(_CFG[name])].value)

    def trace_rate(self) -> int:
        return self._get_config("HW_CFG_TRACE_RATE")

    def describe(self) -> dict[str, Any]:
        """What ``hawser info`` shows of the datapath (no map is read but the config)."""
        try:
            rate: int | None = self.trace_rate()
            tunnel = self._get_config("HW_CFG_TUNNEL_IFINDEX")
        except DatapathUnavailable:
            rate, tunnel = None, 0
        return {
            "TunnelDevice": tunnel,
            "PinPath": str(self.config.pin_dir),
            "Maps": len(MAPS),
            "CompileSeconds": round(self.compile_seconds, 2),
            "CgroupPath": str(self.config.cgroup_path),
            "SockHooks": list(cgroup.HOOKS),
            "TraceSampleRate": rate,
        }

    def close(self, detach_hooks: bool = False) -> None:
        """Release fds. The sock hooks stay attached, like the tc programs and the pins: the
        node keeps its whole datapath across a daemon stop, and a successor replaces them
        (``start``). ``detach_hooks`` (``destroy``) takes them away."""
        if self._hooks:
            if detach_hooks:
                self._hooks.detach()
            else:
                self._hooks.release()
            self._hooks = None
        if self.bpf is not None and self._perf_open:
            events = self.bpf[b"hawser_events"]
            for key in list(events._open_key_fds):
                try:
                    del events[key]
                except KeyError:
                    events._open_key_fds.pop(key, None)
            self._perf_open = False
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None
        self._progs.clear()

    def destroy(self) -> None:
        """Detach the sock hooks and remove this node's pins (maps die with the last program
        using them; tc filters are their links' owners' to remove)."""
        self.close(detach_hooks=True)
        node_dir = self.config.pin_dir.parent
        if node_dir.exists():
            shutil.rmtree(node_dir)
        with contextlib.suppress(OSError):
            node_dir.parent.rmdir()  # hawser/ if no other node uses it

    def _load_state(self) -> None:
        """Seed the derived node-address set from pinned maps (daemon restart)."""
        for k, v in self._t("hawser_uplinks").items():
            self._uplinks[k.value] = v.addr
        for k, v in self._t("hawser_networks").items():
            self._gateways[k.value] = v.gateway
        derived = set(self._uplinks.values()) | set(self._gateways.values())
        self._explicit_addrs = {k.value for k in self._t("hawser_node_addrs")} - derived

    def attach_uplink(self, ifindex: int, address: str) -> None:
        t = self._t("hawser_uplinks")
        leaf = t.Leaf()
        leaf.addr = ip_u32(address)
        t[t.Key(ifindex)] = leaf
        self._uplinks[ifindex] = leaf.addr
        self._sync_node_addrs()
        tc.attach(self.ipr, ifindex, self._progs["hawser_from_uplink"], "hawser_from_uplink")
        prog = self._progs["hawser_to_uplink"]
        tc.attach(self.ipr, ifindex, prog, "hawser_to_uplink", parent=tc.EGRESS)

    def detach_uplink(self, ifindex: int) -> None:
        tc.detach(self.ipr, ifindex)
        tc.detach(self.ipr, ifindex, parent=tc.EGRESS)
        self.forget_uplink(ifindex)

    def forget_uplink(self, ifindex: int) -> None:
        """Drop the map entry only (the interface is gone, or its index now names another)."""
        t = self._t("hawser_uplinks")
        with contextlib.suppress(KeyError):
            del t[t.Key(ifindex)]
        self._uplinks.pop(ifindex, None)
        self._sync_node_addrs()

    def attach_tunnel_device(
        self, ifindex: int, address: str | None = None, uplink: int = 0
    ) -> None:
        """Deliver what arrives on the node's VXLAN device. With ``address`` (this node's
        underlay address) on ``uplink`` (an attached uplink's index) the datapath encapsulates
        and decapsulates itself (bpf/lib/vxlan.h) and the device carries only what it cannot;
        without, every overlay packet goes through the device."""
        tc.attach(self.ipr, ifindex, self._progs["hawser_from_tunnel"], "hawser_from_tunnel")
        self._set_config("HW_CFG_TUNNEL_IFINDEX", ifindex)
        itself = bool(address and uplink)
        self._set_config("HW_CFG_TUNNEL_SRC", ip_u32(address) if itself and address else 0)
        self._set_config("HW_CFG_TUNNEL_UPLINK", uplink if itself else 0)

    def detach_tunnel_device(self, ifindex: int) -> None:
        self._set_config("HW_CFG_TUNNEL_SRC", 0)
        self._set_config("HW_CFG_TUNNEL_UPLINK", 0)
        self._set_config("HW_CFG_TUNNEL_IFINDEX", 0)
        tc.detach(self.ipr, ifindex)

    def attach_endpoint(self, ifindex: int, ip: str, mac: str, network_key: int) -> None:
        t = self._t("hawser_endpoints")
        leaf = t.Leaf()
        leaf.ifindex = ifindex
        leaf.network = network_key
        codec.set_mac(leaf.mac, mac)
        t[t.Key(ip_u32(ip))] = leaf
        tc.attach(self.ipr, ifindex, self._progs["hawser_from_container"], "hawser_from_container")

    def detach_endpoint(self, ifindex: int, ip: str) -> None:
        tc.detach(self.ipr, ifindex)
        self.forget_endpoint(ip)
        self.forget_endpoint_stats(ifindex)
        self.flush_ct_for(ip)

    def delete_tunnel_endpoint(self, ip: str) -> None:
        self.delete_tunnel_endpoints([ip])

    def delete_tunnel_endpoints(self, ips: list[str]) -> None:
        """Forget remote endpoints, and the flows of those that had an entry (one CT pass)."""
        gone = self.forget_tunnel_endpoints(ips)
        if gone:
            self.flush_ct_for(*gone)
