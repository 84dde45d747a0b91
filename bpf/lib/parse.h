/* Header parsing. hw_parse() copies what the datapath needs into struct
 * hw_pkt with bpf_skb_load_bytes (bounds-checked by the kernel), so later
 * rewrites never leave stale packet pointers behind.
 * Returns 0 for an IPv4 packet, HW_MISS for anything to pass untouched (ARP,
 * non-IPv4, IP fragments after the first), -HW_DROP_MALFORMED on truncation. */
#ifndef HAWSER_PARSE_H
#define HAWSER_PARSE_H

#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/tcp.h>
#include <uapi/linux/udp.h>
#include <uapi/linux/icmp.h>
#include "hawser_types.h"

/* Helper return contract used across bpf/: a TC_ACT_* verdict (0..8), -reason
 * for a drop, or HW_MISS for "not handled here, try the next step". HW_MISS is
 * outside the TC_ACT_* range, so it can never be mistaken for a verdict; the
 * entry points turn a HW_MISS into TC_ACT_OK before returning to the kernel. */
#define HW_MISS 0x100

struct hw_pkt {
    struct hw_tuple t;
    __u32 l4_off;
    __u32 len;
    __u8 tcp_flags; /* FIN=1 SYN=2 RST=4 ACK=16 */
    __u8 icmp_type;
    __u8 ttl;
    __u8 tos;
    __u16 tot_len;
    __u8 has_ports;  /* TCP/UDP/ICMP echo with a translatable id */
    __u8 l4_hlen;    /* TCP header length (data offset), 8 for UDP */
    __u8 more_frags; /* the first fragment of a fragmented IP packet */
};

#define HW_TCP_FIN 0x01
#define HW_TCP_SYN 0x02
#define HW_TCP_RST 0x04
#define HW_TCP_ACK 0x10

static __always_inline int hw_parse(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct ethhdr eth;
    struct iphdr ip;

    __builtin_memset(p, 0, sizeof(*p));
    p->len = skb->len;
    if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
        return HW_MISS;
    if (eth.h_proto != bpf_htons(ETH_P_IP))
        return HW_MISS;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
        return -HW_DROP_MALFORMED;
    if (ip.ihl < 5 || ip.version != 4)
        return -HW_DROP_MALFORMED;
    if (ip.frag_off & bpf_htons(0x1fff))
        return HW_MISS;
    p->t.saddr = ip.saddr;
    p->t.daddr = ip.daddr;
    p->t.proto = ip.protocol;
    p->l4_off = ETH_HLEN + ip.ihl * 4;
    p->ttl = ip.ttl;
    p->tos = ip.tos;
    p->tot_len = bpf_ntohs(ip.tot_len);
    p->more_frags = !!(ip.frag_off & bpf_htons(0x2000));

    if (ip.protocol == IPPROTO_TCP) {
        __u8 hdr[14];
        if (bpf_skb_load_bytes(skb, p->l4_off, hdr, sizeof(hdr)) < 0)
            return -HW_DROP_MALFORMED;
        __builtin_memcpy(&p->t.sport, &hdr[0], 2);
        __builtin_memcpy(&p->t.dport, &hdr[2], 2);
        p->tcp_flags = hdr[13];
        p->l4_hlen = (hdr[12] >> 4) * 4;
        p->has_ports = 1;
    } else if (ip.protocol == IPPROTO_UDP) {
        __u16 ports[2];
        if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
            return -HW_DROP_MALFORMED;
        p->t.sport = ports[0];
        p->t.dport = ports[1];
        p->l4_hlen = 8;
        p->has_ports = 1;
    } else if (ip.protocol == IPPROTO_ICMP) {
        struct icmphdr ic;
        if (bpf_skb_load_bytes(skb, p->l4_off, &ic, sizeof(ic)) < 0)
            return -HW_DROP_MALFORMED;
        p->icmp_type = ic.type;
        if (ic.type == ICMP_ECHO) {
            p->t.sport = ic.un.echo.id;
            p->has_ports = 1;
        } else if (ic.type == ICMP_ECHOREPLY) {
            p->t.dport = ic.un.echo.id;
            p->has_ports = 1;
        }
    }
    return 0;
}

static __always_inline void hw_tuple_swap(const struct hw_tuple *in, struct hw_tuple *out)
{
    out->saddr = in->daddr;
    out->daddr = in->saddr;
    out->sport = in->dport;
    out->dport = in->sport;
    out->proto = in->proto;
    out->pad[0] = out->pad[1] = out->pad[2] = 0;
}

#endif
