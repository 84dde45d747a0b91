/* The overlay tunnel. A packet for an endpoint on another node is sent to
 * that node (underlay address and VNI from hawser_tunnel): encapsulated here
 * (vxlan.h) and put on the uplink, or, when the datapath does not encapsulate
 * itself or knows no route, given its tunnel key and redirected to the node's
 * collect-metadata VXLAN device. What arrives from another node (decapsulated
 * by from-uplink or by the device) is delivered to its local endpoint after
 * the network's policy: the receiving node enforces it. Counted per remote node. */
#ifndef HAWSER_TUNNEL_H
#define HAWSER_TUNNEL_H

#include <uapi/linux/pkt_cls.h>
#include "conntrack.h"
#include "deliver.h"
#include "maps.h"
#include "policy.h"
#include "rewrite.h"
#include "vxlan.h"

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
    __u32 src = hw_config(HW_CFG_TUNNEL_SRC), uplink = hw_config(HW_CFG_TUNNEL_UPLINK);
    int ret;

    if (!tn || tn->vni != net->vni || !dev)
        return -HW_DROP_NO_TUNNEL;
    if (net->mtu && hw_wire_size(skb, p) > net->mtu)
        return -HW_DROP_MTU;
    if (bpf_skb_store_bytes(skb, 0, tn->mac, ETH_ALEN, 0) < 0)
        return -HW_DROP_REWRITE;
    if (src && uplink) {
        ret = hw_vxlan_encap(skb, src, uplink, tn->node_ip, tn->vni);
        if (ret >= 0)
            hw_tunnel_count(tn->node_ip, p->len, 1);
        if (ret != HW_MISS)
            return ret;
    }
    key.remote_ipv4 = bpf_ntohl(tn->node_ip);
    key.tunnel_id = tn->vni;
    key.tunnel_ttl = HW_TUNNEL_TTL;
    if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0) < 0)
        return -HW_DROP_REWRITE;
    ret = hw_redirect_verdict(bpf_redirect(dev, 0));
    if (ret >= 0)
        hw_tunnel_count(tn->node_ip, p->len, 1);
    return ret;
}

/* Deliver p, which node_ip sent through the tunnel with vni, to its local
 * endpoint: only if the endpoint's network is the overlay of that VNI and the
 * sender is a member of it, and after the network's policy (icc off: allow
 * entries, replies of flows this node allowed). */
static __always_inline int hw_from_tunnel(struct __sk_buff *skb, struct hw_pkt *p, __u32 vni,
                                          __u32 node_ip)
{
    struct hw_endpoint *ep = hawser_endpoints.lookup(&p->t.daddr);
    struct hw_network *net;
    struct hw_ct_val *ct;
    __u64 now;
    int ret;

    if (!ep)
        return -HW_DROP_NO_ENDPOINT;
    net = hawser_networks.lookup(&ep->network);
    if (!net || !(net->flags & HW_NET_OVERLAY) || net->vni != vni)
        return -HW_DROP_VNI;
    if (!hw_in_subnet(p->t.saddr, net))
        return -HW_DROP_ISOLATION;
    if (!(net->flags & HW_NET_ICC)) {
        now = bpf_ktime_get_ns();
        ct = hw_ct_lookup(&p->t, now);
        if (ct && ct->type == HW_CT_ALLOW) {
            hw_ct_touch(ct, p, 1, now); /* reply of a flow a local container opened */
        } else {
            ret = hw_same_network(p, net, now);
            if (ret < 0)
                return ret;
        }
    }
    ret = hw_to_ep(skb, p, ep, net);
    if (ret >= 0)
        hw_tunnel_count(node_ip, p->len, 0);
    return ret;
}

/* An overlay frame that arrived decapsulated (inner Ethernet frame at offset 0):
 * parse, deliver, and count it in the from-tunnel direction. A TC verdict. */
static __always_inline int hw_tunnel_in(struct __sk_buff *skb, struct hw_pkt *p, __u32 vni,
                                        __u32 node_ip)
{
    int ret = hw_parse(skb, p);

    if (ret == 0)
        ret = hw_from_tunnel(skb, p, vni, node_ip);
    if (ret == HW_MISS)
        ret = -HW_DROP_PROTO; /* only IPv4 crosses the overlay (ARP is answered locally) */
    if (ret < 0) {
        hw_account(skb, HW_DIR_FROM_TUNNEL, -ret, skb->len, skb->ingress_ifindex, &p->t);
        return TC_ACT_SHOT;
    }
    hw_account(skb, HW_DIR_FROM_TUNNEL, HW_FORWARDED, skb->len, skb->ingress_ifindex, &p->t);
    return ret;
}

#endif
