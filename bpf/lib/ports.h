/* Published ports and node addresses: which (proto, address, port) the node
 * publishes, and which addresses are the node's own. Read by every program. */
#ifndef HAWSER_PORTS_H
#define HAWSER_PORTS_H

#include "maps.h"

static __always_inline int hw_is_node_addr(__u32 addr)
{
    return hawser_node_addrs.lookup(&addr) != NULL;
}

/* Published port for (proto, dst, dport): exact host IP first, then the
 * wildcard when dst is one of the node's addresses. k is filled with the key
 * that matched (for the per-port counters). */
static __always_inline struct hw_port_val *
hw_port_lookup(struct hw_port_key *k, __u8 proto, __u32 daddr, __u16 dport, int dst_is_local)
{
    struct hw_port_val *v;

    k->host_ip = daddr;
    k->host_port = dport;
    k->proto = proto;
    k->pad = 0;
    v = hawser_ports.lookup(k);
    if (v || !dst_is_local)
        return v;
    k->host_ip = 0;
    return hawser_ports.lookup(k);
}

/* The published port p is addressed to (TCP or UDP to a node or host address), or NULL. */
static __always_inline struct hw_port_val *hw_published(struct hw_port_key *k,
                                                        const struct hw_pkt *p)
{
    if (p->t.proto != IPPROTO_TCP && p->t.proto != IPPROTO_UDP)
        return NULL;
    return hw_port_lookup(k, p->t.proto, p->t.daddr, p->t.dport, hw_is_node_addr(p->t.daddr));
}

#endif
