/* Routing of translated packets out of the node: a FIB lookup, then a
 * redirect to the egress device (or to the neighbour subsystem when the next
 * hop is not resolved yet). Returns a TC verdict or -reason. */
#ifndef HAWSER_FIB_H
#define HAWSER_FIB_H

#include "deliver.h"
#include "maps.h"
#include "rewrite.h"

#ifndef BPF_FIB_LOOKUP_SKIP_NEIGH
#define BPF_FIB_LOOKUP_SKIP_NEIGH (1U << 2) /* kernel >= 6.3; absent from bcc 0.26 uapi */
#endif

#ifndef AF_INET
#define AF_INET 2
#endif

/* bcc 0.26's prototype of bpf_redirect_neigh lacks the plen argument. */
static long (*hw_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen,
                                 __u64 flags) = (void *)BPF_FUNC_redirect_neigh;

/* FIB lookup parameters for p as it would be routed on arrival at skb's device. */
static __always_inline void hw_fib_params(struct bpf_fib_lookup *fib, struct __sk_buff *skb,
                                          const struct hw_pkt *p)
{
    __builtin_memset(fib, 0, sizeof(*fib));
    fib->family = AF_INET;
    fib->tos = p->tos;
    fib->l4_protocol = p->t.proto;
    fib->tot_len = p->tot_len;
    fib->ipv4_src = p->t.saddr;
    fib->ipv4_dst = p->t.daddr;
    fib->ifindex = skb->ingress_ifindex;
}

/* Route p out of the node. */
static __always_inline int hw_fib_out(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct bpf_fib_lookup fib;
    long rc;
    int ret;

    hw_fib_params(&fib, skb, p);
    rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
    if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
        ret = hw_dec_ttl(skb, p);
        if (ret < 0)
            return ret;
        ret = hw_set_macs(skb, fib.dmac, fib.smac);
        if (ret < 0)
            return ret;
        return hw_redirect_verdict(bpf_redirect(fib.ifindex, 0));
    }
    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
        struct bpf_redir_neigh nh = {};
        ret = hw_dec_ttl(skb, p);
        if (ret < 0)
            return ret;
        nh.nh_family = AF_INET;
        nh.ipv4_nh = fib.ipv4_dst;
        return hw_redirect_verdict(hw_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0));
    }
    return -HW_DROP_FIB;
}

/* Egress interface of the route to p's destination, without touching the
 * packet. Returns the ifindex or 0. */
static __always_inline __u32 hw_fib_egress(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct bpf_fib_lookup fib;
    long rc;

    hw_fib_params(&fib, skb, p);
    rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
        return 0;
    return fib.ifindex;
}

#endif
