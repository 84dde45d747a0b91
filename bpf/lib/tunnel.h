/* The overlay tunnel: one collect-metadata VXLAN device per node. A packet
 * for an endpoint on another node gets its tunnel key (that node's underlay
 * address, the network's VNI) from hawser_tunnel and is redirected to the
 * device, which encapsulates it. Counted per remote node. */
#ifndef HAWSER_TUNNEL_H
#define HAWSER_TUNNEL_H

#include <uapi/linux/pkt_cls.h>
#include "deliver.h"
#include "maps.h"
#include "rewrite.h"

#define HW_TUNNEL_TTL 64

static __always_inline void hw_tunnel_count(__u32 node_ip, __u32 len, int tx)
{
    struct hw_traffic zero = {};
    struct hw_traffic *s = hawser_tunnel_stats.lookup_or_try_init(&node_ip, &zero);

    if (s)
        hw_traffic_add(s, len, tx);
}

/* Size of the IP packets p becomes on the wire: a GSO packet is cut into
 * segments of gso_size payload bytes, each with p's headers. */
static __always_inline __u32 hw_wire_size(const struct __sk_buff *skb, const struct hw_pkt *p)
{
    if (skb->gso_size)
        return p->l4_off - ETH_HLEN + p->l4_hlen + skb->gso_size;
    return p->tot_len;
}

/* Send p (from a local endpoint of the overlay net) to its remote endpoint. */
static __always_inline int hw_tunnel_out(struct __sk_buff *skb, struct hw_pkt *p,
                                         const struct hw_network *net)
{
    struct bpf_tunnel_key key = {};
    struct hw_tunnel *tn = hawser_tunnel.lookup(&p->t.daddr);
    __u32 dev = hw_config(HW_CFG_TUNNEL_IFINDEX);
    int ret;

    if (!tn || tn->vni != net->vni || !dev)
        return -HW_DROP_NO_TUNNEL;
    if (net->mtu && hw_wire_size(skb, p) > net->mtu)
        return -HW_DROP_MTU;
    key.remote_ipv4 = bpf_ntohl(tn->node_ip);
    key.tunnel_id = tn->vni;
    key.tunnel_ttl = HW_TUNNEL_TTL;
    if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0) < 0)
        return -HW_DROP_REWRITE;
    if (bpf_skb_store_bytes(skb, 0, tn->mac, ETH_ALEN, 0) < 0)
        return -HW_DROP_REWRITE;
    ret = hw_redirect_verdict(bpf_redirect(dev, 0));
    if (ret >= 0)
        hw_tunnel_count(tn->node_ip, p->len, 1);
    return ret;
}

#endif
