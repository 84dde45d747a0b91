/* DNAT of a flow to a published port: track it, count it, rewrite it, deliver it.
 * Shared by from-uplink (outside clients) and from-container (hairpin). */
#ifndef HAWSER_DNAT_H
#define HAWSER_DNAT_H

#include "conntrack.h"
#include "deliver.h"
#include "metrics.h"
#include "ports.h"
#include "rewrite.h"

/* The CT entry is keyed by the reply as the backend will send it (backend -> client).
 * Returns 1 for a new connection, 0 for a known one, or a negative drop reason. */
static __always_inline int hw_dnat_track(struct hw_pkt *p, const struct hw_port_val *pv,
                                         __u32 client, __u16 flags, __u64 now)
{
    struct hw_tuple key = {};
    struct hw_ct_val nv;
    struct hw_ct_val *ct;

    key.saddr = pv->backend_ip;
    key.daddr = client;
    key.sport = pv->backend_port;
    key.dport = p->t.sport;
    key.proto = p->t.proto;
    ct = hw_ct_lookup(&key, now);
    /* a SYN on a closed entry is a new connection: the entry starts over */
    if (ct && ct->type == HW_CT_DNAT && !(ct->state == HW_CT_CLOSED && hw_is_syn(p))) {
        hw_ct_touch(ct, p, 0, now);
        return 0;
    }
    hw_ct_init(&nv, p, HW_CT_DNAT, now);
    nv.src_ip = p->t.daddr;
    nv.src_port = p->t.dport;
    nv.dst_ip = p->t.saddr;
    nv.dst_port = p->t.sport;
    nv.flags |= flags;
    nv.ifindex = pv->ifindex;
    nv.packets = 1;
    nv.bytes = p->len;
    if (hawser_ct.update(&key, &nv) < 0)
        return -HW_DROP_CT_FULL;
    return 1;
}

/* Send p to the backend of pv as coming from client (client != p's source only for a
 * container reaching its own published port, which is SNAT'd to its gateway). */
static __always_inline int hw_dnat_forward(struct __sk_buff *skb, struct hw_pkt *p,
                                           struct hw_port_key *pk, const struct hw_port_val *pv,
                                           __u32 client, __u16 flags, __u64 now)
{
    int ret = hw_dnat_track(p, pv, client, flags, now);

    if (ret < 0)
        return ret;
    hw_port_count(pk, p->len, ret);
    if (ret)
        hw_count(HW_CNT_DNAT_NEW);
    if (client != p->t.saddr) {
        ret = hw_set_addr(skb, p, 1, client);
        if (ret < 0)
            return ret;
    }
    ret = hw_set_peer(skb, p, 0, pv->backend_ip, pv->backend_port);
    if (ret < 0)
        return ret;
    ret = hw_to_endpoint(skb, p);
    return ret == HW_MISS ? -HW_DROP_NO_ENDPOINT : ret;
}

#endif
