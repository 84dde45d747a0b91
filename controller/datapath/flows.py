"""Connection tracking and NAT: flushing the flows of gone addresses, expiring idle ones with
the datapath's own timeouts (read from its headers), and listing them."""

from __future__ import annotations

import socket
import time
from typing import Any

from . import source
from .codec import ip_u32, proto_name, u16_port, u32_ip
from .tables import Tables, entries

CT_TYPES = {v: n.removeprefix("HW_CT_").lower() for v, n in source.enum("hw_ct_type").items()}
CT_STATES = {v: n.removeprefix("HW_CT_").lower() for v, n in source.enum("hw_ct_state").items()}
CT_DNAT = source.enum_value("hw_ct_type", "HW_CT_DNAT")
CTF_HAIRPIN_SNAT = source.constant("HW_CTF_HAIRPIN_SNAT")
#: hw_timeout() of bpf/lib/conntrack.h: TCP by state, else by protocol, from its macros
_TCP_TIMEOUTS = {
    source.enum_value("hw_ct_state", "HW_CT_ESTABLISHED"): "HW_TIMEOUT_TCP_EST",
    source.enum_value("hw_ct_state", "HW_CT_CLOSING"): "HW_TIMEOUT_TCP_CLOSING",
    source.enum_value("hw_ct_state", "HW_CT_CLOSED"): "HW_TIMEOUT_TCP_CLOSED",
}
_TIMEOUTS = {socket.IPPROTO_UDP: "HW_TIMEOUT_UDP", socket.IPPROTO_ICMP: "HW_TIMEOUT_ICMP"}


def timeout_ns(proto: int, state: int) -> int:
    """How long an idle flow lives, as the datapath's ``hw_timeout()`` says."""
    if proto == socket.IPPROTO_TCP:
        return source.constant(_TCP_TIMEOUTS.get(state, "HW_TIMEOUT_TCP_SYN"))
    return source.constant(_TIMEOUTS.get(proto, "HW_TIMEOUT_OTHER"))


class Flows(Tables):
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
                or (v.type != CT_DNAT and v.src_ip in gone)
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
        for k, v in entries(self._t("hawser_ct")):
            out |= {k.saddr, k.daddr, v.src_ip, v.dst_ip}
        out |= {v.addr for _, v in entries(self._t("hawser_nat"))}
        out |= {k.backend_ip for k, _ in entries(self._t("hawser_sock"))}
        return {u32_ip(a) for a in out if a}

    def gc(self) -> int:
        """Delete expired CT/NAT entries (same timeouts as the datapath); return the count.

        The datapath frees closed flows' reservations itself (nat.h) and the CT map is LRU;
        this pass is for the rest (idle UDP, half-closed, unanswered). Under a high connection
        rate a pass finds ~10^5 expired entries: they go in one batch per map, not one
        syscall each, so the pass takes a fraction of a second instead of seconds of CPU."""
        now = time.monotonic_ns()
        n = 0
        for name in ("hawser_ct", "hawser_nat"):
            t = self._t(name)
            expired = [
                k
                for k, v in entries(t)
                if now > v.seen_ns and now - v.seen_ns > timeout_ns(k.proto, v.state)
            ]
            if not expired:
                continue
            try:
                t.items_delete_batch((type(expired[0]) * len(expired))(*expired))
            except Exception:  # a key went meanwhile (the batch stops there), or no batch ops
                for k in expired:
                    self._del(t, k)
            n += len(expired)
        return n

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
        # one batch read: walking keys one by one while entries come and go (gc, LRU)
        # restarts at a deleted key and lists entries twice
        for k, v in entries(self._t("hawser_ct")):
            d = self._tuple(k)
            d.update(
                type=CT_TYPES.get(v.type, str(v.type)),
                state=CT_STATES.get(v.state, str(v.state)),
                nat_src=f"{u32_ip(v.src_ip)}:{u16_port(v.src_port)}" if v.src_ip else None,
                nat_dst=f"{u32_ip(v.dst_ip)}:{u16_port(v.dst_port)}" if v.dst_ip else None,
                hairpin_snat=bool(v.flags & CTF_HAIRPIN_SNAT),
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
        for k, v in entries(self._t("hawser_nat")):
            d = self._tuple(k)
            d.update(
                to=f"{u32_ip(v.addr)}:{u16_port(v.port)}",
                state=CT_STATES.get(v.state, str(v.state)),
                idle_s=max(0, now - v.seen_ns) / 1e9,
            )
            out.append(d)
        return out
