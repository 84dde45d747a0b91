"""The Datapath: compile, pin, attach, and typed access to the BPF maps."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from controller.errors import InvalidArgument, NotFound

from . import cgroup, codec, prereq, source, stale, tc
from .codec import ip_u32, port_u16, proto_name, u16_port, u32_ip
from .compile import compile_bpf
from .types import DatapathConfig, PortMapping

MAPS = (
    "hawser_ports", "hawser_port_stats", "hawser_endpoints", "hawser_endpoint_stats",
    "hawser_networks", "hawser_subnets", "hawser_uplinks", "hawser_node_addrs",
    "hawser_policy", "hawser_ct", "hawser_nat", "hawser_sock", "hawser_stats", "hawser_config",
    "hawser_tunnel", "hawser_tunnel_stats", "hawser_sandbox_dns", "hawser_counters",
)  # fmt: skip
PINNED = set(MAPS)

_NET_ICC = source.constant("HW_NET_ICC")
_NET_MASQ = source.constant("HW_NET_MASQ")
_NET_INTERNAL = source.constant("HW_NET_INTERNAL")
_NET_OVERLAY = source.constant("HW_NET_OVERLAY")
_CT_TYPES = {v: n.removeprefix("HW_CT_").lower() for v, n in source.enum("hw_ct_type").items()}
_CT_STATES = {v: n.removeprefix("HW_CT_").lower() for v, n in source.enum("hw_ct_state").items()}
_CFG = {n: v for v, n in source.enum("hw_config").items()}
_CT_DNAT = source.enum_value("hw_ct_type", "HW_CT_DNAT")


_PROTO_NUM = {"TCP": 6, "UDP": 17, "ICMP": 1}


def _timeout_ns(proto: int, state: int) -> int:
    """hw_timeout() of bpf/lib/conntrack.h, from the same HW_TIMEOUT_* macros."""
    c = source.constant
    if proto == _PROTO_NUM["TCP"]:
        by_state = {
            "ESTABLISHED": "HW_TIMEOUT_TCP_EST",
            "CLOSING": "HW_TIMEOUT_TCP_CLOSING",
            "CLOSED": "HW_TIMEOUT_TCP_CLOSED",
        }
        return c(by_state.get(_CT_STATES.get(state, "").upper(), "HW_TIMEOUT_TCP_SYN"))
    if proto == _PROTO_NUM["UDP"]:
        return c("HW_TIMEOUT_UDP")
    if proto == _PROTO_NUM["ICMP"]:
        return c("HW_TIMEOUT_ICMP")
    return c("HW_TIMEOUT_OTHER")


def _scalar(key: Any) -> int:
    """A scalar map key: batch lookups give plain ints, per-key iteration ctypes values."""
    return int(getattr(key, "value", key))


def _entries(table: Any) -> Any:
    """(key, value) pairs in a few syscalls (BPF_MAP_LOOKUP_BATCH), falling back per key."""
    try:
        return list(table.items_lookup_batch())
    except Exception:  # kernels or map types without batch ops
        return list(table.items())


class Datapath:
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

    # ---- lifecycle -------------------------------------------------------
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
        cfg = self._t("hawser_config")
        cfg[ctypes.c_uint(_CFG["HW_CFG_NETNS_COOKIE"])] = ctypes.c_ulonglong(netns_cookie)
        cfg[ctypes.c_uint(_CFG["HW_CFG_TRACE_RATE"])] = ctypes.c_ulonglong(
            self.config.trace_sample_rate
        )
        cfg[ctypes.c_uint(_CFG["HW_CFG_DROP_EVENTS_PER_SEC"])] = ctypes.c_ulonglong(
            self.config.drop_events_per_sec
        )
        self._load_state()
        # a killed predecessor's hooks stay attached: replace them, new ones first
        leftovers = stale.predecessors(self.config.cgroup_path, self.config.pin_dir)
        self._hooks = cgroup.SockHooks(self.bpf, self.config.cgroup_path)
        self._hooks.attach()
        for hook in leftovers:
            stale.detach(self.config.cgroup_path, hook)

    def close(self) -> None:
        """Detach the sock hooks and release fds; pins and tc filters stay."""
        if self._hooks:
            self._hooks.detach()
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
        """Remove this node's pins (maps die with the last program using them)."""
        self.close()
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

    def _t(self, name: str) -> Any:
        if self.bpf is None:
            raise NotFound("the datapath is not started")
        return self.bpf[name.encode()]  # cached: a PerfEventArray closes its buffers when collected

    # ---- uplinks and node addresses ---------------------------------------
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

    def uplinks(self) -> dict[int, str]:
        """ifindex → address of every uplink entry."""
        return {k.value: u32_ip(v.addr) for k, v in self._t("hawser_uplinks").items()}

    def set_node_addresses(self, addresses: Iterable[str]) -> None:
        self._explicit_addrs = {ip_u32(a) for a in addresses}
        self._sync_node_addrs()

    def _sync_node_addrs(self) -> None:
        want = self._explicit_addrs | set(self._uplinks.values()) | set(self._gateways.values())
        t = self._t("hawser_node_addrs")
        have = {k.value for k in t}
        for a in have - want:
            del t[t.Key(a)]
        for a in want - have:
            t[t.Key(a)] = t.Leaf(1)

    # ---- networks -----------------------------------------------------------
    def set_network(
        self,
        key: int,
        subnet: str,
        gateway: str,
        bridge_mac: str,
        *,
        icc: bool,
        masquerade: bool,
        internal: bool,
        snat_ip: str | None,
        vni: int = 0,
        mtu: int = 0,
    ) -> None:
        """Write network key's entry; vni > 0 makes it an overlay (mtu: its tunnel MTU)."""
        if not 0 < key < 2**32:
            raise InvalidArgument(f"invalid network key: {key}")
        net = codec.subnet(subnet)
        nets = self._t("hawser_networks")
        lpm = self._t("hawser_subnets")
        old = nets.get(nets.Key(key))
        leaf = nets.Leaf()
        leaf.subnet = ip_u32(str(net.network_address))
        leaf.prefix = net.prefixlen
        leaf.gateway = ip_u32(gateway)
        leaf.snat_ip = ip_u32(snat_ip) if snat_ip else 0
        leaf.flags = (
            (_NET_ICC if icc else 0)
            | (_NET_MASQ if masquerade and not internal else 0)
            | (_NET_INTERNAL if internal else 0)
            | (_NET_OVERLAY if vni else 0)
        )
        if not 0 <= vni < 2**24:
            raise InvalidArgument(f"invalid VXLAN network identifier: {vni}")
        leaf.vni = vni
        leaf.mtu = mtu
        codec.set_mac(leaf.bridge_mac, bridge_mac)
        if old is not None and (old.subnet, old.prefix) != (leaf.subnet, leaf.prefix):
            self._lpm_del(old.subnet, old.prefix)
        nets[nets.Key(key)] = leaf
        lk = lpm.Key()
        lk.prefixlen, lk.addr = net.prefixlen, leaf.subnet
        lpm[lk] = lpm.Leaf(key)
        self._gateways[key] = leaf.gateway
        self._sync_node_addrs()

    def _lpm_del(self, addr: int, prefix: int) -> None:
        lpm = self._t("hawser_subnets")
        lk = lpm.Key()
        lk.prefixlen, lk.addr = prefix, addr
        with contextlib.suppress(KeyError):
            del lpm[lk]

    def subnets(self) -> dict[str, int]:
        """ "a.b.c.d/len" → network key of every subnet (LPM) entry."""
        return {
            f"{u32_ip(k.addr)}/{k.prefixlen}": v.value for k, v in self._t("hawser_subnets").items()
        }

    def delete_subnet(self, subnet: str) -> None:
        net = codec.subnet(subnet)
        self._lpm_del(ip_u32(str(net.network_address)), net.prefixlen)

    def delete_network(self, key: int) -> None:
        nets = self._t("hawser_networks")
        old = nets.get(nets.Key(key))
        if old is None:
            return
        self._lpm_del(old.subnet, old.prefix)
        del nets[nets.Key(key)]
        self._gateways.pop(key, None)
        self._sync_node_addrs()

    # ---- sandboxes -------------------------------------------------------------------
    def set_sandbox_dns(self, netns_cookie: int, address: str, port: int = 53) -> None:
        """127.0.0.11:53 in the sandbox with that netns cookie reaches address:port."""
        t = self._t("hawser_sandbox_dns")
        leaf = t.Leaf()
        leaf.addr = ip_u32(address)
        leaf.port = port_u16(port)
        t[t.Key(netns_cookie)] = leaf

    def delete_sandbox_dns(self, netns_cookie: int) -> None:
        t = self._t("hawser_sandbox_dns")
        with contextlib.suppress(KeyError):
            del t[t.Key(netns_cookie)]

    def sandbox_dns(self) -> dict[int, str]:
        """netns cookie -> address:port of its embedded DNS."""
        return {
            _scalar(k): f"{u32_ip(v.addr)}:{u16_port(v.port)}"
            for k, v in _entries(self._t("hawser_sandbox_dns"))
        }

    # ---- overlay tunnel ---------------------------------------------------------
    def attach_tunnel_device(self, ifindex: int) -> None:
        """Deliver what arrives on the node's VXLAN device; encapsulate through it."""
        tc.attach(self.ipr, ifindex, self._progs["hawser_from_tunnel"], "hawser_from_tunnel")
        cfg = self._t("hawser_config")
        cfg[ctypes.c_uint(_CFG["HW_CFG_TUNNEL_IFINDEX"])] = ctypes.c_ulonglong(ifindex)

    def detach_tunnel_device(self, ifindex: int) -> None:
        cfg = self._t("hawser_config")
        cfg[ctypes.c_uint(_CFG["HW_CFG_TUNNEL_IFINDEX"])] = ctypes.c_ulonglong(0)
        tc.detach(self.ipr, ifindex)

    def set_tunnel_endpoint(self, ip: str, node_ip: str, vni: int, mac: str) -> None:
        """An endpoint of an overlay on another node (underlay address node_ip)."""
        t = self._t("hawser_tunnel")
        leaf = t.Leaf()
        leaf.node_ip = ip_u32(node_ip)
        leaf.vni = vni
        codec.set_mac(leaf.mac, mac)
        t[t.Key(ip_u32(ip))] = leaf

    def delete_tunnel_endpoint(self, ip: str) -> None:
        t = self._t("hawser_tunnel")
        with contextlib.suppress(KeyError):
            del t[t.Key(ip_u32(ip))]
        self.flush_ct_for(ip)

    def tunnel(self) -> list[dict[str, Any]]:
        return [
            {
                "ip": u32_ip(_scalar(k)),
                "node": u32_ip(v.node_ip),
                "vni": v.vni,
                "mac": codec.bytes_mac(v.mac),
            }
            for k, v in _entries(self._t("hawser_tunnel"))
        ]

    def tunnel_stats(self) -> list[dict[str, Any]]:
        t = self._t("hawser_tunnel_stats")
        out = []
        for k in t:
            cpus = t.getvalue(k)
            row: dict[str, Any] = {"node": u32_ip(k.value)}
            for f in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes"):
                row[f] = sum(getattr(c, f) for c in cpus)
            out.append(row)
        return out

    # ---- endpoints ------------------------------------------------------------
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

    def forget_endpoint(self, ip: str) -> None:
        """Drop the endpoint entry only (no tc change: its ifindex may name another link)."""
        t = self._t("hawser_endpoints")
        with contextlib.suppress(KeyError):
            del t[t.Key(ip_u32(ip))]

    def forget_endpoint_stats(self, ifindex: int) -> None:
        t = self._t("hawser_endpoint_stats")
        with contextlib.suppress(KeyError):
            del t[t.Key(ifindex)]

    # ---- published ports ------------------------------------------------------
    def _port_keys(self, t: Any, ports: Sequence[PortMapping]) -> Any:
        """One ctypes array of the entries' keys (values checked on the way)."""
        keys = (t.Key * len(ports))()
        addr: dict[str, int] = {}
        for k, p in zip(keys, ports, strict=True):
            if p.host_ip not in addr:
                addr[p.host_ip] = ip_u32(p.host_ip)
            k.host_ip = addr[p.host_ip]
            k.host_port = port_u16(p.host_port, "hostPort")
            k.proto = codec.proto_num(p.proto)
        return keys

    def add_ports(self, ports: Sequence[PortMapping]) -> None:
        """Write the entries in one batch; every entry is checked before any is written."""
        if not ports:
            return
        t = self._t("hawser_ports")
        keys = self._port_keys(t, ports)
        values = (t.Leaf * len(ports))()
        addr: dict[str, int] = {}
        for v, p in zip(values, ports, strict=True):
            if p.backend_ip not in addr:
                addr[p.backend_ip] = ip_u32(p.backend_ip)
            v.backend_ip = addr[p.backend_ip]
            v.backend_port = port_u16(p.backend_port, "containerPort")
            v.ifindex = p.ifindex
        try:
            t.items_update_batch(keys, values)
        except Exception:  # a kernel without batch ops: one by one, which names the failure
            for k, v in zip(keys, values, strict=True):
                t[k] = v

    def delete_ports(self, ports: Sequence[PortMapping]) -> None:
        """Delete the entries and their counters; entries already gone are skipped."""
        if not ports:
            return
        t = self._t("hawser_ports")
        keys = self._port_keys(t, ports)
        try:
            t.items_delete_batch(keys)
        except Exception:  # an entry was missing (the batch stops there), or no batch ops
            for k in keys:
                self._del(t, k)
        st = self._t("hawser_port_stats")
        wanted = {bytes(k) for k in keys}
        for k in [k for k in st if bytes(k) in wanted]:  # only ports that saw traffic
            self._del(st, k)

    # ---- policy -----------------------------------------------------------------
    def _policy_key(self, src: str, dst: str, proto: str, dport: int) -> tuple[Any, Any]:
        t = self._t("hawser_policy")
        k = t.Key()
        k.src, k.dst = ip_u32(src), ip_u32(dst)
        k.proto = codec.proto_num(proto)
        k.dport = port_u16(dport)
        return t, k

    def allow(self, src: str, dst: str, proto: str, dport: int) -> None:
        t, k = self._policy_key(src, dst, proto, dport)
        t[k] = t.Leaf(1)

    def disallow(self, src: str, dst: str, proto: str, dport: int) -> None:
        t, k = self._policy_key(src, dst, proto, dport)
        with contextlib.suppress(KeyError):
            del t[k]

    # ---- conntrack ----------------------------------------------------------------
    def flush_ct_for(self, *ips: str) -> None:
        """Delete the CT, NAT and sock entries of flows to or from these addresses."""
        gone = {ip_u32(ip) for ip in ips}
        if not gone:
            return
        ct = self._t("hawser_ct")
        for k, v in list(ct.items()):  # per key: batch buffers are sized to the capacity
            # a DNAT entry's src_ip is the published (node) address, not an endpoint's
            if (
                k.saddr in gone
                or k.daddr in gone
                or (v.type != _CT_DNAT and v.src_ip in gone)
                or v.dst_ip in gone
            ):
                self._del(ct, k)
        nat = self._t("hawser_nat")
        for k, v in list(nat.items()):
            if v.addr in gone:
                self._del(nat, k)
        sock = self._t("hawser_sock")
        for k, _ in list(sock.items()):
            if k.backend_ip in gone:
                self._del(sock, k)

    def flow_addresses(self) -> set[str]:
        """Every address that a CT, NAT or sock entry refers to (see flush_ct_for)."""
        out: set[int] = set()
        for k, v in _entries(self._t("hawser_ct")):
            out |= {k.saddr, k.daddr, v.src_ip, v.dst_ip}
        out |= {v.addr for _, v in _entries(self._t("hawser_nat"))}
        out |= {k.backend_ip for k, _ in _entries(self._t("hawser_sock"))}
        return {u32_ip(a) for a in out if a}

    @staticmethod
    def _del(t: Any, k: Any) -> None:
        with contextlib.suppress(KeyError):
            del t[k]

    def gc(self) -> int:
        """Delete expired CT/NAT entries (same timeouts as the datapath); return the count."""
        now = time.monotonic_ns()
        n = 0
        for name in ("hawser_ct", "hawser_nat"):
            t = self._t(name)
            for k, v in list(_entries(t)):
                if now > v.seen_ns and now - v.seen_ns > _timeout_ns(k.proto, v.state):
                    self._del(t, k)
                    n += 1
        return n

    # ---- inspection ------------------------------------------------------------------
    def stats(self) -> list[dict[str, Any]]:
        t = self._t("hawser_stats")
        slots = source.constant("HW_REASON_SLOTS")
        reasons = source.reasons()
        out = []
        for d, dname in source.directions().items():
            for r, rname in reasons.items():
                cpus = t.getvalue(t.Key(d * slots + r))
                out.append(
                    {
                        "direction": dname,
                        "reason": rname,
                        "packets": sum(c.packets for c in cpus),
                        "bytes": sum(c.bytes for c in cpus),
                    }
                )
        return out

    def counters(self) -> dict[str, int]:
        """Flow events (enum hw_counter): {"dnat_new": n, "snat_new": n, ...}."""
        t = self._t("hawser_counters")
        return {
            name.removeprefix("HW_CNT_").lower(): sum(t.getvalue(t.Key(value)))
            for value, name in source.enum("hw_counter").items()
            if name != "HW_CNT_MAX"
        }

    def maps(self) -> list[dict[str, Any]]:
        from bcc import table as bt

        out = []
        for name in MAPS:
            t = self._t(name)
            kind = {
                bt.BPF_MAP_TYPE_HASH: "hash",
                bt.BPF_MAP_TYPE_LRU_HASH: "lru_hash",
                bt.BPF_MAP_TYPE_PERCPU_HASH: "percpu_hash",
                bt.BPF_MAP_TYPE_PERCPU_ARRAY: "percpu_array",
                bt.BPF_MAP_TYPE_ARRAY: "array",
                bt.BPF_MAP_TYPE_LPM_TRIE: "lpm_trie",
            }.get(t.ttype, str(t.ttype))
            entries = t.max_entries if "array" in kind else sum(1 for _ in _entries(t))
            out.append(
                {
                    "name": name,
                    "type": kind,
                    "entries": entries,
                    "capacity": t.max_entries,
                    "pin_path": str(self.config.pin_dir / name),
                }
            )
        return out

    def ports(self) -> list[dict[str, Any]]:
        return [
            {
                "proto": proto_name(k.proto),
                "host_ip": u32_ip(k.host_ip),
                "host_port": u16_port(k.host_port),
                "backend_ip": u32_ip(v.backend_ip),
                "backend_port": u16_port(v.backend_port),
                "ifindex": v.ifindex,
            }
            for k, v in self._t("hawser_ports").items()
        ]

    def endpoints(self) -> list[dict[str, Any]]:
        return [
            {
                "ip": u32_ip(k.value),
                "ifindex": v.ifindex,
                "network": v.network,
                "mac": codec.bytes_mac(v.mac),
            }
            for k, v in self._t("hawser_endpoints").items()
        ]

    def networks(self) -> list[dict[str, Any]]:
        return [
            {
                "key": k.value,
                "subnet": f"{u32_ip(v.subnet)}/{v.prefix}",
                "gateway": u32_ip(v.gateway),
                "bridge_mac": codec.bytes_mac(v.bridge_mac),
                "snat_ip": u32_ip(v.snat_ip) if v.snat_ip else None,
                "icc": bool(v.flags & _NET_ICC),
                "masquerade": bool(v.flags & _NET_MASQ),
                "internal": bool(v.flags & _NET_INTERNAL),
            }
            for k, v in self._t("hawser_networks").items()
        ]

    def policy(self) -> list[dict[str, Any]]:
        return [
            {
                "src": u32_ip(k.src),
                "dst": u32_ip(k.dst),
                "proto": proto_name(k.proto),
                "dport": u16_port(k.dport),
            }
            for k in self._t("hawser_policy")
        ]

    @staticmethod
    def _tuple(k: Any) -> dict[str, Any]:
        return {
            "proto": proto_name(k.proto),
            "src": u32_ip(k.saddr),
            "sport": u16_port(k.sport),
            "dst": u32_ip(k.daddr),
            "dport": u16_port(k.dport),
        }

    def ct(self) -> list[dict[str, Any]]:
        now = time.monotonic_ns()
        out = []
        for k, v in self._t("hawser_ct").items():
            d = self._tuple(k)
            d.update(
                type=_CT_TYPES.get(v.type, str(v.type)),
                state=_CT_STATES.get(v.state, str(v.state)),
                nat_src=f"{u32_ip(v.src_ip)}:{u16_port(v.src_port)}" if v.src_ip else None,
                nat_dst=f"{u32_ip(v.dst_ip)}:{u16_port(v.dst_port)}" if v.dst_ip else None,
                hairpin_snat=bool(v.flags & 1),
                ifindex=v.ifindex,
                age_s=max(0, now - v.created_ns) / 1e9,
                idle_s=max(0, now - v.seen_ns) / 1e9,
                packets=v.packets,
                bytes=v.bytes,
            )
            out.append(d)
        return out

    def nat(self) -> list[dict[str, Any]]:
        now = time.monotonic_ns()
        out = []
        for k, v in self._t("hawser_nat").items():
            d = self._tuple(k)
            d.update(
                to=f"{u32_ip(v.addr)}:{u16_port(v.port)}",
                state=_CT_STATES.get(v.state, str(v.state)),
                idle_s=max(0, now - v.seen_ns) / 1e9,
            )
            out.append(d)
        return out

    def port_stats(self) -> list[dict[str, Any]]:
        out = []
        t = self._t("hawser_port_stats")
        for k in t:
            cpus = t.getvalue(k)
            out.append(
                {
                    "proto": proto_name(k.proto),
                    "host_ip": u32_ip(k.host_ip),
                    "host_port": u16_port(k.host_port),
                    "conns": sum(c.conns for c in cpus),
                    "packets": sum(c.packets for c in cpus),
                    "bytes": sum(c.bytes for c in cpus),
                }
            )
        return out

    def endpoint_stats(self) -> list[dict[str, Any]]:
        out = []
        t = self._t("hawser_endpoint_stats")
        for k in t:
            cpus = t.getvalue(k)
            row: dict[str, Any] = {"ifindex": k.value}
            for f in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes"):
                row[f] = sum(getattr(c, f) for c in cpus)
            out.append(row)
        return out

    # ---- events --------------------------------------------------------------------------
    def open_events(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Deliver sampled drop/trace events to callback(dict) from poll_events()."""
        t = self._t("hawser_events")
        event_type = self._t("hawser_event_scratch").sLeaf
        reasons = source.reasons()
        dirs = source.directions()

        def handle(_cpu: int, data: Any, _size: int) -> None:
            e = ctypes.cast(data, ctypes.POINTER(event_type)).contents
            callback(
                {
                    "ts_ns": e.ts_ns,
                    "ifindex": e.ifindex,
                    "direction": dirs.get(e.direction, str(e.direction)),
                    "verdict": "drop" if e.verdict else "forward",
                    "reason": reasons.get(e.reason, str(e.reason)),
                    "proto": proto_name(e.proto),
                    "src": u32_ip(e.saddr),
                    "sport": u16_port(e.sport),
                    "dst": u32_ip(e.daddr),
                    "dport": u16_port(e.dport),
                    "len": e.len,
                }
            )

        t.open_perf_buffer(handle)
        self._perf_open = True

    def poll_events(self, timeout_ms: int) -> None:
        if not self._perf_open:
            raise NotFound("open_events() first")
        self.bpf.perf_buffer_poll(timeout=timeout_ms)

    def tc_programs(self, ifindex: int, egress: bool = False) -> list[str]:
        """Program names on ifindex's clsact ingress or egress (inspection, tests)."""
        return tc.attached(self.ipr, ifindex, tc.EGRESS if egress else tc.INGRESS)
