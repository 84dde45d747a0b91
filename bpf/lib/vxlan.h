/* VXLAN in the datapath itself: the overlay's outer headers are written and
 * stripped here, so a packet between two nodes' containers never passes the
 * VXLAN device, the node's routing or its UDP socket (per packet, those cost
 * a route lookup on send and a socket lookup, vxlan_rcv and a GRO-cell queue
 * on receive). The wire format is the kernel device's (RFC 7348, UDP 4789,
 * source port from the inner flow's hash), so a node using the device and one
 * using this path understand each other; the device stays the fallback for
 * what is not handled here (no route or uplink yet, outer fragments). */
#ifndef HAWSER_VXLAN_H
#define HAWSER_VXLAN_H

#include <uapi/linux/pkt_cls.h>
#include "deliver.h"
#include "fib.h"
#include "maps.h"
#include "parse.h"

#define HW_VXLAN_PORT 4789
#define HW_VXLAN_FLAG_VNI 0x08    /* first byte of the VXLAN header: the VNI is valid */
#define HW_VXLAN_OVERHEAD 50      /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */
#define HW_VXLAN_SPORT_MIN 32768  /* the kernel's default local port range, as the */
#define HW_VXLAN_SPORT_SPAN 28232 /* VXLAN device picks its source ports from it */
#define HW_VXLAN_TTL 64

/* bpf_skb_adjust_room flags (uapi values, spelled out: bcc 0.26's copy lacks some) */
#define HW_ADJ_FIXED_GSO (1ULL << 0)
#define HW_ADJ_ENCAP_L3_IPV4 (1ULL << 1)
#define HW_ADJ_ENCAP_L4_UDP (1ULL << 4)
#define HW_ADJ_ENCAP_L2_ETH (1ULL << 6)
#define HW_ADJ_ENCAP_L2(len) (((__u64)(len)&0xff) << 56)

struct hw_vxlan_hdr {
    __u8 flags;
    __u8 reserved[3];
    __u32 vni; /* VNI << 8, network order */
};

/* Everything in front of the inner IP header after encapsulation. */
struct hw_vxlan_outer {
    struct ethhdr eth;
    struct iphdr ip;
    struct udphdr udp;
    struct hw_vxlan_hdr vx;
    struct ethhdr inner;
} __attribute__((packed));

static __always_inline __u16 hw_csum_fold(__u64 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

/* Encapsulate skb (an inner Ethernet frame, already addressed to the remote
 * endpoint's MAC) for node_ip and send it out of uplink, the interface of the
 * node's tunnel address src_ip. HW_MISS, with the packet unchanged, when no
 * route to node_ip leaves through it or the packet cannot take the headers
 * here (the device then carries it). */
static __always_inline int hw_vxlan_encap(struct __sk_buff *skb, __u32 src_ip, __u32 uplink,
                                          __u32 node_ip, __u32 vni)
{
    struct hw_vxlan_outer h;
    struct bpf_fib_lookup fib = {};
    __u32 len, hash;
    long rc;

    fib.family = AF_INET;
    fib.l4_protocol = IPPROTO_UDP;
    fib.ipv4_src = src_ip;
    fib.ipv4_dst = node_ip;
    fib.ifindex = uplink; /* the route out of it, as the node's own socket would take */
    rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
        return HW_MISS;

    if (bpf_skb_load_bytes(skb, 0, &h.inner, sizeof(h.inner)) < 0)
        return -HW_DROP_MALFORMED;
    hash = bpf_get_hash_recalc(skb);
    /* refused before anything changed, e.g. a packet the container encapsulated itself
     * (a tunnel inside the overlay): the device, which nests, carries it */
    if (bpf_skb_adjust_room(skb, HW_VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC,
                            HW_ADJ_FIXED_GSO | HW_ADJ_ENCAP_L3_IPV4 | HW_ADJ_ENCAP_L4_UDP |
                                HW_ADJ_ENCAP_L2_ETH | HW_ADJ_ENCAP_L2(ETH_HLEN)) < 0)
        return HW_MISS;
    len = skb->len - ETH_HLEN; /* the outer IP packet (a GSO one is cut by the kernel) */

    __builtin_memcpy(h.eth.h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(h.eth.h_source, fib.smac, ETH_ALEN);
    h.eth.h_proto = bpf_htons(ETH_P_IP);
    h.ip.version = 4;
    h.ip.ihl = 5;
    h.ip.tos = 0;
    h.ip.tot_len = bpf_htons(len > 0xffff ? 0 : len);
    h.ip.id = (__u16)bpf_get_prandom_u32();
    h.ip.frag_off = 0;
    h.ip.ttl = HW_VXLAN_TTL;
    h.ip.protocol = IPPROTO_UDP;
    h.ip.check = 0;
    h.ip.saddr = src_ip;
    h.ip.daddr = node_ip;
    h.ip.check = hw_csum_fold(bpf_csum_diff(0, 0, (__be32 *)&h.ip, sizeof(h.ip), 0));
    h.udp.source = bpf_htons(HW_VXLAN_SPORT_MIN + (((__u64)hash * HW_VXLAN_SPORT_SPAN) >> 32));
    h.udp.dest = bpf_htons(HW_VXLAN_PORT);
    h.udp.len = bpf_htons(len - sizeof(struct iphdr) > 0xffff ? 0 : len - sizeof(struct iphdr));
    h.udp.check = 0; /* allowed for UDP over IPv4, as the device sends it */
    h.vx.flags = HW_VXLAN_FLAG_VNI;
    h.vx.reserved[0] = h.vx.reserved[1] = h.vx.reserved[2] = 0;
    h.vx.vni = bpf_htonl(vni << 8);
    if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0) < 0)
        return -HW_DROP_REWRITE;

    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
        struct bpf_redir_neigh nh = {};

        nh.nh_family = AF_INET;
        nh.ipv4_nh = fib.ipv4_dst;
        return hw_redirect_verdict(hw_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0));
    }
    return hw_redirect_verdict(bpf_redirect(fib.ifindex, 0));
}

/* p is a UDP packet that arrived on an uplink: when it is VXLAN for this node
 * (to the tunnel source address, port 4789, a VNI, an IPv4 inner frame, not
 * fragmented), strip the outer headers and return 0 with *vni and *node_ip set.
 * HW_MISS otherwise: the packet goes on untouched. */
static __always_inline int hw_vxlan_decap(struct __sk_buff *skb, const struct hw_pkt *p, __u32 *vni,
                                          __u32 *node_ip)
{
    struct {
        struct hw_vxlan_hdr vx;
        struct ethhdr inner;
    } __attribute__((packed)) h;

    if (p->t.proto != IPPROTO_UDP || p->t.dport != bpf_htons(HW_VXLAN_PORT))
        return HW_MISS;
    if (p->l4_off != ETH_HLEN + sizeof(struct iphdr))
        return HW_MISS; /* outer IP options: the device handles it */
    if (!p->t.daddr || p->t.daddr != (__u32)hw_config(HW_CFG_TUNNEL_SRC))
        return HW_MISS;
    if (p->more_frags)
        return HW_MISS; /* a fragment: the node's stack reassembles it for the device */
    if (bpf_skb_load_bytes(skb, p->l4_off + sizeof(struct udphdr), &h, sizeof(h)) < 0)
        return HW_MISS;
    if (!(h.vx.flags & HW_VXLAN_FLAG_VNI) || h.inner.h_proto != bpf_htons(ETH_P_IP))
        return HW_MISS;
    if (bpf_skb_adjust_room(skb, -HW_VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, HW_ADJ_FIXED_GSO) < 0)
        return HW_MISS;
    *vni = bpf_ntohl(h.vx.vni) >> 8;
    *node_ip = p->t.saddr;
    return 0;
}

#endif
