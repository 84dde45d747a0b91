"""One DNS question in, one answer out: local names from a :class:`View`, the rest forwarded."""

from __future__ import annotations

from collections.abc import Callable

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

from controller.plugins.dns import records
from controller.rules.model import Container

#: TTL of answers about containers (Docker's embedded DNS uses 600).
TTL = 600
UDP_LIMIT = 512

#: (asker, question wire bytes, over TCP?) → upstream reply bytes, or None.
Forwarder = Callable[[Container, bytes, bool], bytes | None]


def _error(request: DNSRecord, rcode: int) -> bytes:
    reply = request.reply()
    reply.header.rcode = rcode
    return bytes(reply.pack())


def _udp_limit(request: DNSRecord) -> int:
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_LIMIT, int(rr.rclass))
    return UDP_LIMIT


def _fit(request: DNSRecord, reply: DNSRecord, tcp: bool) -> bytes:
    packed = bytes(reply.pack())
    if tcp or len(packed) <= _udp_limit(request):
        return packed
    reply.rr = []
    reply.header.tc = 1
    return bytes(reply.pack())


def answer(
    wire: bytes,
    view: records.View,
    network_id: str,
    source_ip: str,
    forwarder: Forwarder,
    tcp: bool = False,
) -> bytes | None:
    """The reply to send for ``wire``, asked by ``source_ip`` on ``network_id``; None = drop."""
    try:
        request = DNSRecord.parse(wire)
    except (DNSError, ValueError, IndexError):
        return None
    if request.header.qr or not request.questions:
        return None
    asker = view.asker(network_id, source_ip)
    if asker is None:
        return _error(request, RCODE.REFUSED)
    question = request.q
    qname = str(question.qname)
    qtype = question.qtype
    reply = request.reply()
    reply.header.ra = 1
    if qtype == QTYPE.PTR:
        ip = records.ptr_address(qname)
        peer = view.reverse(asker, network_id, ip) if ip else None
        if peer is not None:
            reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(peer + "."), ttl=TTL))
            return _fit(request, reply, tcp)
    else:
        found = view.lookup(asker, network_id, qname)
        if found.known:
            if qtype in (QTYPE.A, QTYPE.ANY):
                for ip in found.addresses:
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
            return _fit(request, reply, tcp)  # other types: no data, never leaked upstream
    upstream = forwarder(asker, wire, tcp)
    if upstream is None:
        return _error(request, RCODE.SERVFAIL)
    return upstream
