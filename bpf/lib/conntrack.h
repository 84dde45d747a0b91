/* Connection tracking: TCP state, state-aware expiry and initial values of
 * hawser_ct / hawser_nat entries. Entries are checked against
 * bpf_ktime_get_ns() on lookup; the controller's gc() deletes expired ones
 * with the same timeouts (the HW_TIMEOUT_* macros, which Python reads from
 * this header). */
#ifndef HAWSER_CONNTRACK_H
#define HAWSER_CONNTRACK_H

#include "maps.h"
#include "parse.h"

#define HW_NS 1000000000ULL
#define HW_TIMEOUT_TCP_SYN (60 * HW_NS)
#define HW_TIMEOUT_TCP_EST (6 * 3600 * HW_NS)
#define HW_TIMEOUT_TCP_CLOSING (60 * HW_NS) /* half-closed */
#define HW_TIMEOUT_TCP_CLOSED (10 * HW_NS)
#define HW_TIMEOUT_UDP (60 * HW_NS)
#define HW_TIMEOUT_ICMP (30 * HW_NS)
#define HW_TIMEOUT_OTHER (60 * HW_NS)

static __always_inline __u64 hw_timeout(__u8 proto, __u8 state)
{
    if (proto == IPPROTO_TCP) {
        if (state == HW_CT_ESTABLISHED)
            return HW_TIMEOUT_TCP_EST;
        if (state == HW_CT_CLOSING)
            return HW_TIMEOUT_TCP_CLOSING;
        if (state == HW_CT_CLOSED)
            return HW_TIMEOUT_TCP_CLOSED;
        return HW_TIMEOUT_TCP_SYN;
    }
    if (proto == IPPROTO_UDP)
        return HW_TIMEOUT_UDP;
    if (proto == IPPROTO_ICMP)
        return HW_TIMEOUT_ICMP;
    return HW_TIMEOUT_OTHER;
}

/* A SYN without ACK: the first packet of a TCP connection. */
static __always_inline int hw_is_syn(const struct hw_pkt *p)
{
    return p->t.proto == IPPROTO_TCP && (p->tcp_flags & (HW_TCP_SYN | HW_TCP_ACK)) == HW_TCP_SYN;
}

/* New TCP state after p; reply says p goes in the reply direction (an ACK
 * there answers a SYN). *fins collects HW_CTF_FIN_* per direction. */
static __always_inline __u8 hw_next_state(const struct hw_pkt *p, __u8 state, __u16 *fins,
                                          int reply)
{
    if (p->t.proto != IPPROTO_TCP)
        return HW_CT_ESTABLISHED;
    if (p->tcp_flags & HW_TCP_RST)
        return HW_CT_CLOSED;
    if (state == HW_CT_CLOSED && !reply && hw_is_syn(p)) {
        *fins &= ~HW_CTF_FINS; /* a new connection on a closed tuple */
        return HW_CT_NEW;
    }
    if (p->tcp_flags & HW_TCP_FIN) {
        *fins |= reply ? HW_CTF_FIN_REPLY : HW_CTF_FIN_ORIG;
        return (*fins & HW_CTF_FINS) == HW_CTF_FINS ? HW_CT_CLOSED : HW_CT_CLOSING;
    }
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

/* A fresh CT value of type for the flow that p opens (p goes in the original
 * direction): a SYN starts NEW, a packet picked up mid-flow ESTABLISHED. */
static __always_inline void hw_ct_init(struct hw_ct_val *v, const struct hw_pkt *p, __u8 type,
                                       __u64 now)
{
    __builtin_memset(v, 0, sizeof(*v));
    v->type = type;
    v->state = hw_next_state(p, HW_CT_NEW, &v->flags, 0);
    if (p->t.proto == IPPROTO_TCP && (p->tcp_flags & HW_TCP_SYN))
        v->state = HW_CT_NEW;
    v->created_ns = now;
    v->seen_ns = now;
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
    __u16 flags = v->flags;
    __u8 st = hw_next_state(p, v->state, &flags, reply);

    if (st != v->state)
        v->state = st;
    if (flags != v->flags)
        v->flags = flags;
    v->seen_ns = now;
    __sync_fetch_and_add(&v->packets, 1);
    __sync_fetch_and_add(&v->bytes, p->len);
}

#endif
