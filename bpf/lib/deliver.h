/* Local delivery: hand a translated packet straight to the endpoint that owns
 * its destination, through the veth peer (a netns switch without a trip
 * through the bridge), and turn a refused redirect into a counted drop. */
#ifndef HAWSER_DELIVER_H
#define HAWSER_DELIVER_H

#include <uapi/linux/pkt_cls.h>
#include "maps.h"
#include "metrics.h"
#include "rewrite.h"

/* bpf_redirect* return TC_ACT_REDIRECT, or TC_ACT_SHOT when they refuse. */
static __always_inline int hw_redirect_verdict(long rc)
{
    return rc == TC_ACT_SHOT ? -HW_DROP_REDIRECT : (int)rc;
}

/* Deliver p to ep, an endpoint of net, as if net's bridge forwarded it. */
static __always_inline int hw_to_ep(struct __sk_buff *skb, struct hw_pkt *p,
                                    const struct hw_endpoint *ep, const struct hw_network *net)
{
    int ret;

    if (!ep->ifindex)
        return -HW_DROP_REDIRECT;
    ret = hw_set_macs(skb, ep->mac, net->bridge_mac);
    if (ret < 0)
        return ret;
    ret = hw_redirect_verdict(bpf_redirect_peer(ep->ifindex, 0));
    if (ret >= 0)
        hw_ep_count(ep->ifindex, p->len, 0);
    return ret;
}

/* Deliver p to the endpoint owning p->t.daddr. HW_MISS when the destination
 * is not an endpoint of this node. */
static __always_inline int hw_to_endpoint(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct hw_endpoint *ep = hawser_endpoints.lookup(&p->t.daddr);
    struct hw_network *net;

    if (!ep)
        return HW_MISS;
    if (!ep->ifindex)
        return -HW_DROP_REDIRECT;
    net = hawser_networks.lookup(&ep->network);
    if (!net)
        return -HW_DROP_NO_ENDPOINT;
    return hw_to_ep(skb, p, ep, net);
}

/* Deliver p to a member of the sender's own L2 network on this node: like
 * hw_to_endpoint, but the frame keeps its source MAC (the sender's, as if the
 * bridge had forwarded it). HW_MISS when the destination is not a local endpoint. */
static __always_inline int hw_to_member(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct hw_endpoint *ep = hawser_endpoints.lookup(&p->t.daddr);
    int ret;

    if (!ep)
        return HW_MISS;
    if (!ep->ifindex)
        return -HW_DROP_REDIRECT;
    if (bpf_skb_store_bytes(skb, 0, ep->mac, ETH_ALEN, 0) < 0)
        return -HW_DROP_REWRITE;
    ret = hw_redirect_verdict(bpf_redirect_peer(ep->ifindex, 0));
    if (ret >= 0)
        hw_ep_count(ep->ifindex, p->len, 0);
    return ret;
}

#endif
