/* from-tunnel
 * Attached: tc ingress (clsact, direct action) of the node's collect-metadata
 * VXLAN device, in the node's netns.
 * Sees: every overlay packet another node sent to this one, decapsulated
 * (inner Ethernet frame), with its tunnel key (sender's underlay address,
 * VNI). Each is delivered to its local endpoint only if the endpoint's
 * network is the overlay of that VNI and the sender is a member of it, and
 * after the network's policy (icc off: allow entries, replies of flows this
 * node allowed) - the receiving node enforces it. Anything else is dropped. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/conntrack.h"
#include "lib/deliver.h"
#include "lib/policy.h"
#include "lib/tunnel.h"

static __always_inline int hw_from_tunnel(struct __sk_buff *skb, struct hw_pkt *p, __u32 vni,
                                          __u32 node_ip)
{
    struct hw_endpoint *ep = hawser_endpoints.lookup(&p->t.daddr);
    struct hw_network *net;
    struct hw_ct_val *ct;
    __u32 net_key;
    __u64 now = bpf_ktime_get_ns();
    int ret;

    if (!ep)
        return -HW_DROP_NO_ENDPOINT;
    net_key = ep->network;
    net = hawser_networks.lookup(&net_key);
    if (!net || !(net->flags & HW_NET_OVERLAY) || net->vni != vni)
        return -HW_DROP_VNI;
    if (hw_network_of(p->t.saddr) != net_key)
        return -HW_DROP_ISOLATION;
    ct = hw_ct_lookup(&p->t, now);
    if (ct && ct->type == HW_CT_ALLOW) {
        hw_ct_touch(ct, p, 1, now); /* reply of a flow a local container opened */
    } else {
        ret = hw_same_network(p, net, now);
        if (ret < 0)
            return ret;
    }
    ret = hw_to_endpoint(skb, p);
    if (ret >= 0)
        hw_tunnel_count(node_ip, p->len, 0);
    return ret;
}

int hawser_from_tunnel(struct __sk_buff *skb)
{
    struct bpf_tunnel_key key = {};
    struct hw_pkt p;
    int ret;

    __builtin_memset(&p, 0, sizeof(p));
    if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0)
        ret = -HW_DROP_MALFORMED;
    else
        ret = hw_parse(skb, &p);
    if (ret == 0)
        ret = hw_from_tunnel(skb, &p, key.tunnel_id, bpf_htonl(key.remote_ipv4));
    if (ret == HW_MISS)
        ret = -HW_DROP_PROTO; /* only IPv4 crosses the overlay (ARP is answered locally) */
    if (ret < 0) {
        hw_account(skb, HW_DIR_FROM_TUNNEL, -ret, skb->len, skb->ingress_ifindex, &p.t);
        return TC_ACT_SHOT;
    }
    hw_account(skb, HW_DIR_FROM_TUNNEL, HW_FORWARDED, skb->len, skb->ingress_ifindex, &p.t);
    return ret;
}
