/* Packet rewrites with incremental checksum updates. Address changes update
 * the IP header checksum and, through BPF_F_PSEUDO_HDR, the L4 pseudo-header
 * checksum (right both for CHECKSUM_PARTIAL packets from offloading veths and
 * for fully checksummed ones); port changes update only the L4 checksum; UDP
 * uses BPF_F_MARK_MANGLED_0 so a zero (absent) checksum stays absent.
 * Each helper returns 0 or -HW_DROP_REWRITE and updates p to the new values. */
#ifndef HAWSER_REWRITE_H
#define HAWSER_REWRITE_H

#include "parse.h"

#define HW_IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define HW_IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define HW_IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

static __always_inline int hw_l4_csum_off(const struct hw_pkt *p, __u32 *off, __u64 *flags)
{
    if (p->t.proto == IPPROTO_TCP) {
        *off = p->l4_off + offsetof(struct tcphdr, check);
        *flags = 0;
        return 1;
    }
    if (p->t.proto == IPPROTO_UDP) {
        *off = p->l4_off + offsetof(struct udphdr, check);
        *flags = BPF_F_MARK_MANGLED_0;
        return 1;
    }
    return 0; /* ICMP has no pseudo header */
}

static __always_inline int hw_set_addr(struct __sk_buff *skb, struct hw_pkt *p, int src, __u32 to)
{
    __u32 from = src ? p->t.saddr : p->t.daddr;
    __u32 off;
    __u64 fl;

    if (from == to)
        return 0;
    if (hw_l4_csum_off(p, &off, &fl) &&
        bpf_l4_csum_replace(skb, off, from, to, fl | BPF_F_PSEUDO_HDR | sizeof(to)) < 0)
        return -HW_DROP_REWRITE;
    if (bpf_l3_csum_replace(skb, HW_IP_CSUM_OFF, from, to, sizeof(to)) < 0)
        return -HW_DROP_REWRITE;
    if (bpf_skb_store_bytes(skb, src ? HW_IP_SRC_OFF : HW_IP_DST_OFF, &to, sizeof(to), 0) < 0)
        return -HW_DROP_REWRITE;
    if (src)
        p->t.saddr = to;
    else
        p->t.daddr = to;
    return 0;
}

/* Rewrites the source or destination port; for ICMP echo the identifier
 * (which lives in the tuple's sport for requests and dport for replies). */
static __always_inline int hw_set_port(struct __sk_buff *skb, struct hw_pkt *p, int src, __u16 to)
{
    __u16 from = src ? p->t.sport : p->t.dport;
    __u32 off, poff;
    __u64 fl;

    if (from == to)
        return 0;
    if (p->t.proto == IPPROTO_ICMP) {
        off = p->l4_off + offsetof(struct icmphdr, checksum);
        poff = p->l4_off + offsetof(struct icmphdr, un.echo.id);
        fl = 0;
    } else {
        if (!hw_l4_csum_off(p, &off, &fl))
            return -HW_DROP_REWRITE;
        poff = p->l4_off + (src ? 0 : 2);
    }
    if (bpf_l4_csum_replace(skb, off, from, to, fl | sizeof(to)) < 0)
        return -HW_DROP_REWRITE;
    if (bpf_skb_store_bytes(skb, poff, &to, sizeof(to), 0) < 0)
        return -HW_DROP_REWRITE;
    if (src)
        p->t.sport = to;
    else
        p->t.dport = to;
    return 0;
}

/* Rewrite one side of the flow (src != 0: source) to addr:port; 0 or a negative reason. */
static __always_inline int hw_set_peer(struct __sk_buff *skb, struct hw_pkt *p, int src, __u32 addr,
                                       __u16 port)
{
    int ret = hw_set_addr(skb, p, src, addr);

    if (ret < 0)
        return ret;
    return hw_set_port(skb, p, src, port);
}

static __always_inline int hw_set_macs(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
    if (bpf_skb_store_bytes(skb, 0, (void *)dst, ETH_ALEN, 0) < 0 ||
        bpf_skb_store_bytes(skb, ETH_ALEN, (void *)src, ETH_ALEN, 0) < 0)
        return -HW_DROP_REWRITE;
    return 0;
}

/* Routed packets lose one hop like the kernel's forwarding would do. */
static __always_inline int hw_dec_ttl(struct __sk_buff *skb, struct hw_pkt *p)
{
    __u16 old, new;
    __u8 ttl = p->ttl - 1;

    if (p->ttl <= 1)
        return 0; /* let the receiver deal with it; we do not emit ICMP */
    if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, ttl), &old, 2) < 0)
        return -HW_DROP_REWRITE;
    new = old;
    *(__u8 *)&new = ttl;
    if (bpf_l3_csum_replace(skb, HW_IP_CSUM_OFF, old, new, 2) < 0 ||
        bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, ttl), &ttl, 1, 0) < 0)
        return -HW_DROP_REWRITE;
    p->ttl = ttl;
    return 0;
}

#endif
