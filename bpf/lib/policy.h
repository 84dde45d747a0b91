/* Network membership and icc policy (containers of one network, on this
 * node or, for overlays, arriving from another). */
#ifndef HAWSER_POLICY_H
#define HAWSER_POLICY_H

#include <uapi/linux/pkt_cls.h>
#include "conntrack.h"
#include "maps.h"
#include "parse.h"

/* Network key of the Hawser subnet containing addr, or 0. */
static __always_inline __u32 hw_network_of(__u32 addr)
{
    struct hw_lpm_key k = {.prefixlen = 32, .addr = addr};
    __u32 *net = hawser_subnets.lookup(&k);

    return net ? *net : 0;
}

/* addr is inside net's subnet. Subnets of Hawser networks never overlap, so for
 * the network at hand this answers what hw_network_of() would, without the trie. */
static __always_inline int hw_in_subnet(__u32 addr, const struct hw_network *net)
{
    __u32 mask = net->prefix ? bpf_htonl(0xffffffffu << (32 - net->prefix)) : 0;

    return (addr & mask) == net->subnet;
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

/* p goes between two members of the network snet: allowed when icc is on,
 * to the gateway or broadcast, or by an allow entry (and then its replies
 * are let through by a CT entry). TC_ACT_OK or -reason. */
static __always_inline int hw_same_network(struct hw_pkt *p, const struct hw_network *snet,
                                           __u64 now)
{
    struct hw_tuple rkey;
    struct hw_ct_val *ct;
    __u32 bcast;

    if (snet->flags & HW_NET_ICC)
        return TC_ACT_OK;
    bcast = snet->subnet | bpf_htonl(snet->prefix >= 32 ? 0 : (0xffffffffu >> snet->prefix));
    if (p->t.daddr == snet->gateway || p->t.daddr == bcast)
        return TC_ACT_OK;
    if (!hw_policy_allows(p))
        return -HW_DROP_ICC;
    /* allowed: let its replies through */
    hw_tuple_swap(&p->t, &rkey);
    ct = hw_ct_lookup(&rkey, now);
    if (ct && ct->type == HW_CT_ALLOW) {
        hw_ct_touch(ct, p, 0, now);
    } else {
        struct hw_ct_val nv;

        hw_ct_init(&nv, p, HW_CT_ALLOW, now);
        if (hawser_ct.update(&rkey, &nv) < 0)
            return -HW_DROP_CT_FULL;
    }
    return TC_ACT_OK;
}

#endif
