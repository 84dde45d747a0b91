/* from-container
 * Attached: tc ingress (clsact, direct action) of each endpoint's host-side
 * veth, in the node's netns.
 * Sees: every packet a container sends (to its gateway, to other containers,
 * to published ports, to the outside), before the bridge or the node's stack.
 * ARP requests for endpoints on other nodes (overlays) are answered here.
 * In order:
 * 1. conntrack hit: reply of a published-port flow (restore source, and the
 *    destination of a hairpin-SNAT'd flow), masqueraded flow (SNAT), or reply
 *    of an icc-allowed flow;
 * 2. internal networks: nothing leaves the subnet;
 * 3. hairpin: a node address:published port -> DNAT to the backend;
 * 4. same network: icc policy (and, on an overlay, the tunnel to an endpoint
 *    on another node); other Hawser network: isolation;
 * 5. elsewhere: masquerade when the network wants it, else the stack routes. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/rewrite.h"
#include "lib/conntrack.h"
#include "lib/ports.h"
#include "lib/nat.h"
#include "lib/dnat.h"
#include "lib/deliver.h"
#include "lib/policy.h"
#include "lib/fib.h"
#include "lib/arp.h"
#include "lib/tunnel.h"

static __always_inline int hw_deliver(struct __sk_buff *skb, struct hw_pkt *p)
{
    int ret = hw_to_endpoint(skb, p);

    return ret == HW_MISS ? hw_fib_out(skb, p) : ret;
}

static __always_inline int hw_ct_reply(struct __sk_buff *skb, struct hw_pkt *p, __u64 now)
{
    struct hw_ct_val *ct = hw_ct_lookup(&p->t, now);
    int ret;

    if (!ct)
        return HW_MISS;
    if (ct->type == HW_CT_ALLOW) {
        hw_ct_touch(ct, p, 1, now);
        return TC_ACT_OK;
    }
    if (ct->type == HW_CT_DNAT) {
        __u32 dst_ip = ct->dst_ip;
        __u16 dst_port = ct->dst_port;
        int hairpin = ct->flags & HW_CTF_HAIRPIN_SNAT;

        hw_ct_touch(ct, p, 1, now);
        ret = hw_set_peer(skb, p, 1, ct->src_ip, ct->src_port);
        if (ret < 0)
            return ret;
        if (hairpin) {
            ret = hw_set_peer(skb, p, 0, dst_ip, dst_port);
            if (ret < 0)
                return ret;
        }
        return hw_deliver(skb, p);
    }
    if (ct->type == HW_CT_SNAT) {
        if (ct->state == HW_CT_CLOSED && hw_is_syn(p)) {
            hw_count(HW_CNT_SNAT_NEW); /* the same tuple opens a new connection */
            if (ct->src_port == p->t.sport)
                hw_count(HW_CNT_SNAT_PORT_KEPT);
        }
        hw_ct_touch(ct, p, 0, now);
        if (hw_nat_touch(p, ct, now) == HW_MISS) {
            hawser_ct.delete(&p->t); /* reservation gone or taken over: start over */
            return HW_MISS;
        }
        ret = hw_set_peer(skb, p, 1, ct->src_ip, ct->src_port);
        if (ret < 0)
            return ret;
        return hw_fib_out(skb, p);
    }
    return HW_MISS;
}

static __always_inline int hw_hairpin(struct __sk_buff *skb, struct hw_pkt *p,
                                      const struct hw_network *snet, __u64 now)
{
    struct hw_port_key pk;
    struct hw_port_val *pv = hw_published(&pk, p);

    if (!pv)
        return HW_MISS;
    if (pv->backend_ip == p->t.saddr) /* to itself: seen as coming from its gateway */
        return hw_dnat_forward(skb, p, &pk, pv, snet->gateway, HW_CTF_HAIRPIN_SNAT, now);
    return hw_dnat_forward(skb, p, &pk, pv, p->t.saddr, 0, now);
}

static __always_inline int hw_masquerade(struct __sk_buff *skb, struct hw_pkt *p,
                                         const struct hw_network *snet, __u64 now)
{
    struct hw_ct_val ct;
    struct hw_uplink *up;
    __u32 egress, snat_ip = snet->snat_ip;
    int ret;

    if (!snat_ip) {
        egress = hw_fib_egress(skb, p);
        up = egress ? hawser_uplinks.lookup(&egress) : NULL;
        if (!up)
            return TC_ACT_OK; /* not leaving through an uplink: route unchanged */
        snat_ip = up->addr;
    }
    if (!p->has_ports || (p->t.proto == IPPROTO_ICMP && p->icmp_type != ICMP_ECHO))
        return -HW_DROP_PROTO;
    ret = hw_snat_new(skb, p, snat_ip, now, &ct, HW_CT_SNAT, 0, 1);
    if (ret < 0)
        return ret;
    ret = hw_set_peer(skb, p, 1, ct.src_ip, ct.src_port);
    if (ret < 0)
        return ret;
    return hw_fib_out(skb, p);
}

static __always_inline int hw_from_container(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct hw_endpoint *ep;
    struct hw_network *snet;
    __u32 dnet, snet_key;
    __u64 now = bpf_ktime_get_ns();
    int ret;

    ret = hw_ct_reply(skb, p, now);
    if (ret != HW_MISS)
        return ret;

    ep = hawser_endpoints.lookup(&p->t.saddr);
    if (!ep)
        return TC_ACT_OK; /* not an endpoint address (e.g. DHCP 0.0.0.0) */
    snet_key = ep->network;
    snet = hawser_networks.lookup(&snet_key);
    if (!snet)
        return TC_ACT_OK;
    dnet = hw_in_subnet(p->t.daddr, snet) ? snet_key : hw_network_of(p->t.daddr);

    if ((snet->flags & HW_NET_INTERNAL) && dnet != snet_key)
        return -HW_DROP_INTERNAL;

    /* a published port is on a node address: in the sender's own subnet only the gateway */
    if (dnet != snet_key || p->t.daddr == snet->gateway) {
        ret = hw_hairpin(skb, p, snet, now);
        if (ret != HW_MISS)
            return ret;
    }

    if (dnet == snet_key) {
        ret = hw_same_network(p, snet, now);
        if (ret != TC_ACT_OK || p->t.daddr == snet->gateway)
            return ret;
        /* a member on this node: straight to its veth peer, past the bridge and netfilter
         * (an engine's FORWARD policy must not see Hawser's traffic); else the tunnel */
        ret = hw_to_member(skb, p);
        if (ret != HW_MISS || !(snet->flags & HW_NET_OVERLAY))
            return ret == HW_MISS ? TC_ACT_OK : ret;
        return hw_tunnel_out(skb, p, snet);
    }
    if (dnet)
        return -HW_DROP_ISOLATION;
    if (hw_is_node_addr(p->t.daddr))
        return TC_ACT_OK;
    if ((bpf_ntohl(p->t.daddr) >> 28) >= 0xe) /* multicast, broadcast */
        return TC_ACT_OK;
    if (snet->flags & HW_NET_MASQ)
        return hw_masquerade(skb, p, snet, now);
    return TC_ACT_OK;
}

int hawser_from_container(struct __sk_buff *skb)
{
    struct hw_pkt p;
    int ret;

    hw_ep_count(skb->ingress_ifindex, skb->len, 1);
    __builtin_memset(&p, 0, sizeof(p));
    ret = hw_arp_answer(skb);
    if (ret == HW_MISS)
        ret = hw_parse(skb, &p);
    else if (ret >= 0)
        return ret; /* ARP answered for a remote endpoint: not an IP verdict */
    if (ret == 0)
        ret = hw_from_container(skb, &p);
    if (ret == HW_MISS)
        ret = TC_ACT_OK;
    if (ret < 0) {
        hw_account(skb, HW_DIR_FROM_CONTAINER, -ret, skb->len, skb->ingress_ifindex, &p.t);
        return TC_ACT_SHOT;
    }
    hw_account(skb, HW_DIR_FROM_CONTAINER, HW_FORWARDED, skb->len, skb->ingress_ifindex, &p.t);
    return ret;
}
