/* Network membership and icc policy. */
#ifndef HAWSER_POLICY_H
#define HAWSER_POLICY_H

#include "maps.h"
#include "parse.h"

/* Network key of the Hawser subnet containing addr, or 0. */
static __always_inline __u32 hw_network_of(__u32 addr)
{
    struct hw_lpm_key k = {.prefixlen = 32, .addr = addr};
    __u32 *net = hawser_subnets.lookup(&k);

    return net ? *net : 0;
}

/* An allow entry (src, dst, proto, dport) exists (links with icc off). */
static __always_inline int hw_policy_allows(const struct hw_pkt *p)
{
    struct hw_policy_key k = {};

    k.src = p->t.saddr;
    k.dst = p->t.daddr;
    k.proto = p->t.proto;
    k.dport = p->t.dport;
    return hawser_policy.lookup(&k) != NULL;
}

#endif
