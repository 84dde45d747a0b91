/* ARP answers for endpoints on other nodes: an overlay has no flooding and no
 * learning, so a container's ARP request for a remote endpoint is answered
 * here, from hawser_tunnel, and sent straight back to the container. */
#ifndef HAWSER_ARP_H
#define HAWSER_ARP_H

#include <uapi/linux/if_arp.h>
#include <uapi/linux/if_ether.h>
#include "maps.h"
#include "parse.h"

/* Ethernet/IPv4 ARP body after struct arphdr. */
struct hw_arp_ipv4 {
    __u8 sha[ETH_ALEN];
    __u32 spa;
    __u8 tha[ETH_ALEN];
    __u32 tpa;
} __attribute__((packed));

#define HW_ARP_OFF (ETH_HLEN + sizeof(struct arphdr))

/* HW_MISS unless skb is an ARP request for a remote endpoint; then the request
 * is turned into the reply in place and sent back out of the port it came in
 * on (TC_ACT_REDIRECT), or -reason. */
static __always_inline int hw_arp_answer(struct __sk_buff *skb)
{
    struct ethhdr eth;
    struct arphdr arp;
    struct hw_arp_ipv4 body, reply;
    struct hw_tunnel *tn;
    __u16 op = bpf_htons(ARPOP_REPLY);

    if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 || eth.h_proto != bpf_htons(ETH_P_ARP))
        return HW_MISS;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &arp, sizeof(arp)) < 0 ||
        bpf_skb_load_bytes(skb, HW_ARP_OFF, &body, sizeof(body)) < 0)
        return HW_MISS;
    if (arp.ar_op != bpf_htons(ARPOP_REQUEST) || arp.ar_pro != bpf_htons(ETH_P_IP) ||
        arp.ar_hln != ETH_ALEN || arp.ar_pln != 4)
        return HW_MISS;
    tn = hawser_tunnel.lookup(&body.tpa);
    if (!tn)
        return HW_MISS;
    __builtin_memcpy(reply.sha, tn->mac, ETH_ALEN);
    reply.spa = body.tpa;
    __builtin_memcpy(reply.tha, body.sha, ETH_ALEN);
    reply.tpa = body.spa;
    if (bpf_skb_store_bytes(skb, 0, body.sha, ETH_ALEN, 0) < 0 ||
        bpf_skb_store_bytes(skb, ETH_ALEN, tn->mac, ETH_ALEN, 0) < 0 ||
        bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct arphdr, ar_op), &op, sizeof(op), 0) <
            0 ||
        bpf_skb_store_bytes(skb, HW_ARP_OFF, &reply, sizeof(reply), 0) < 0)
        return -HW_DROP_REWRITE;
    return bpf_redirect(skb->ingress_ifindex, 0);
}

#endif
