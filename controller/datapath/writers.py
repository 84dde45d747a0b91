"""Map writers: what the operations layer puts into the BPF maps (node addresses, networks,
sandbox DNS, tunnel entries, endpoints, published ports, policy). Each writer checks every
value (``codec``) before it writes; deleting what is gone is not an error."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.errors import InvalidArgument, KernelError

from . import codec, source
from .codec import ip_u32, port_u16
from .tables import Tables
from .types import PortMapping, TunnelEntry

NET_ICC = source.constant("HW_NET_ICC")
NET_MASQ = source.constant("HW_NET_MASQ")
NET_INTERNAL = source.constant("HW_NET_INTERNAL")
NET_OVERLAY = source.constant("HW_NET_OVERLAY")


@functools.lru_cache(maxsize=4096)
def _address(ip: str) -> int:
    """``ip_u32`` once per address: a 30,000-port range has two addresses."""
    return ip_u32(ip)


class MapWriters(Tables):
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
            (NET_ICC if icc else 0)
            | (NET_MASQ if masquerade and not internal else 0)
            | (NET_INTERNAL if internal else 0)
            | (NET_OVERLAY if vni else 0)
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

    def set_tunnel_endpoint(self, ip: str, node_ip: str, vni: int, mac: str) -> None:
        """An endpoint of an overlay on another node (underlay address node_ip)."""
        t = self._t("hawser_tunnel")
        leaf = t.Leaf()
        leaf.node_ip = ip_u32(node_ip)
        leaf.vni = vni
        codec.set_mac(leaf.mac, mac)
        t[t.Key(ip_u32(ip))] = leaf

    def set_tunnel_endpoints(self, entries: Mapping[str, TunnelEntry]) -> None:
        """Many remote endpoints (address → entry) in one batch; every value checked first."""
        if not entries:
            return
        t = self._t("hawser_tunnel")
        keys = (t.Key * len(entries))()
        values = (t.Leaf * len(entries))()
        for i, (v, (ip, entry)) in enumerate(zip(values, entries.items(), strict=True)):
            keys[i] = ip_u32(ip)  # an array of a scalar key type holds plain ints
            v.node_ip = ip_u32(entry.node)
            if not 0 < entry.vni < 2**24:
                raise InvalidArgument(f"invalid VXLAN network identifier: {entry.vni}")
            v.vni = entry.vni
            codec.set_mac(v.mac, entry.mac)
        try:
            t.items_update_batch(keys, values)
        except Exception:  # a kernel without batch ops: one by one
            try:
                for k, v in zip(keys, values, strict=True):
                    t[k] = v
            except Exception as exc:
                raise KernelError(
                    f"could not write {len(entries)} remote endpoints to the tunnel map "
                    f"(at most {t.max_entries} entries): {exc}"
                ) from exc

    def forget_tunnel_endpoints(self, ips: Iterable[str]) -> list[str]:
        """Delete remote endpoints' entries (and nothing else); the addresses that had one."""
        t = self._t("hawser_tunnel")
        gone = []
        for ip in ips:
            try:
                del t[t.Key(ip_u32(ip))]
                gone.append(ip)
            except KeyError:
                continue
        return gone

    def forget_endpoint(self, ip: str) -> None:
        """Drop the endpoint entry only (no tc change: its ifindex may name another link)."""
        t = self._t("hawser_endpoints")
        with contextlib.suppress(KeyError):
            del t[t.Key(ip_u32(ip))]

    def forget_endpoint_stats(self, ifindex: int) -> None:
        t = self._t("hawser_endpoint_stats")
        with contextlib.suppress(KeyError):
            del t[t.Key(ifindex)]

    def _port_keys(self, t: Any, ports: Sequence[PortMapping]) -> Any:
        """One ctypes array of the entries' keys (values checked on the way)."""
        keys = (t.Key * len(ports))()
        for k, p in zip(keys, ports, strict=True):
            k.host_ip = _address(p.host_ip)
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
        for v, p in zip(values, ports, strict=True):
            v.backend_ip = _address(p.backend_ip)
            v.backend_port = port_u16(p.backend_port, "containerPort")
            v.ifindex = p.ifindex
        try:
            t.items_update_batch(keys, values)
        except Exception:  # a kernel without batch ops, or a full map: one by one
            try:
                for k, v in zip(keys, values, strict=True):
                    t[k] = v
            except Exception as exc:  # bcc says only "Could not update table: <errno text>"
                raise KernelError(
                    f"could not write {len(ports)} published ports to the port map "
                    f"(at most {t.max_entries} entries): {exc}"
                ) from exc

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
