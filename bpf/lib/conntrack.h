/* Connection tracking: state-aware expiry of hawser_ct / hawser_nat entries.
 * Entries are checked against bpf_ktime_get_ns() on lookup; the controller's
 * gc() deletes expired ones with the same timeouts (exported to Python via
 * the HW_TIMEOUT_* macros, read from this header). */
#ifndef HAWSER_CONNTRACK_H
#define HAWSER_CONNTRACK_H

#include "maps.h"
#include "parse.h"

#define HW_NS 1000000000ULL
#define HW_TIMEOUT_TCP_SYN (60 * HW_NS)
#define HW_TIMEOUT_TCP_EST (6 * 3600 * HW_NS)
#define HW_TIMEOUT_TCP_CLOSE (10 * HW_NS)
#define HW_TIMEOUT_UDP (60 * HW_NS)
#define HW_TIMEOUT_ICMP (30 * HW_NS)
#define HW_TIMEOUT_OTHER (60 * HW_NS)

static __always_inline __u64 hw_timeout(__u8 proto, __u8 state)
{
    if (proto == IPPROTO_TCP) {
        if (state == HW_CT_ESTABLISHED)
            return HW_TIMEOUT_TCP_EST;
        if (state == HW_CT_CLOSING)
            return HW_TIMEOUT_TCP_CLOSE;
        return HW_TIMEOUT_TCP_SYN;
    }
    if (proto == IPPROTO_UDP)
        return HW_TIMEOUT_UDP;
    if (proto == IPPROTO_ICMP)
        return HW_TIMEOUT_ICMP;
    return HW_TIMEOUT_OTHER;
}

/* New TCP state after seeing flags; reply says the packet is in the
 * reply direction (an ACK there establishes the flow). */
static __always_inline __u8 hw_next_state(const struct hw_pkt *p, __u8 state, int reply)
{
    if (p->t.proto != IPPROTO_TCP)
        return HW_CT_ESTABLISHED;
    if (p->tcp_flags & (HW_TCP_FIN | HW_TCP_RST))
        return HW_CT_CLOSING;
    if (state == HW_CT_NEW && reply && (p->tcp_flags & HW_TCP_ACK))
        return HW_CT_ESTABLISHED;
    if (state == HW_CT_NEW && !reply && !(p->tcp_flags & HW_TCP_SYN))
        return HW_CT_ESTABLISHED; /* picked up mid-flow (e.g. after restart) */
    return state;
}

static __always_inline int hw_expired(__u8 proto, __u8 state, __u64 seen, __u64 now)
{
    return now > seen && now - seen > hw_timeout(proto, state);
}

/* Live CT entry for key or NULL (expired entries are deleted). */
static __always_inline struct hw_ct_val *hw_ct_lookup(struct hw_tuple *key, __u64 now)
{
    struct hw_ct_val *v = hawser_ct.lookup(key);

    if (v && hw_expired(key->proto, v->state, v->seen_ns, now)) {
        hawser_ct.delete(key);
        return NULL;
    }
    return v;
}

static __always_inline void hw_ct_touch(struct hw_ct_val *v, const struct hw_pkt *p, int reply,
                                        __u64 now)
{
    __u8 st = hw_next_state(p, v->state, reply);

    if (st != v->state)
        v->state = st;
    v->seen_ns = now;
    __sync_fetch_and_add(&v->packets, 1);
    __sync_fetch_and_add(&v->bytes, p->len);
}

#endif
