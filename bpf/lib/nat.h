/* Masquerade (SNAT) with collision-safe source ports, the way the kernel's
 * NAT does it: a flow's own source port is kept whenever the translated
 * tuple is unique, otherwise a free port is probed for; a tuple whose TCP
 * flow has closed (FIN both ways, or RST) may be taken by a new SYN.
 *
 * A translated flow owns two entries: hawser_ct[tuple as sent] (type SNAT or
 * NODE_SNAT: the new source) and hawser_nat[reply tuple at the uplink] (the
 * original source). The reply tuple is reserved first, with BPF_NOEXIST or a
 * compare-and-swap on a reusable entry, so two live flows never share
 * (remote, snat address, snat port, proto). hawser_nat is a plain hash, not
 * LRU: a live reservation is never evicted to make room, so a full table
 * fails the insert and is counted (ct_full).
 *
 * Reservations of closed TCP flows are freed in the kernel, as conntrack
 * frees its entries: a flow reaching CLOSED is queued (hawser_nat_closed, a
 * ring in closing order), and every new mapping first frees up to
 * HW_NAT_RECLAIM_BUDGET queued reservations whose 10 s have passed. Flows to
 * ever new destinations never reuse a tuple, so without this the table fills
 * with closed flows between the controller's gc passes. */
#ifndef HAWSER_NAT_H
#define HAWSER_NAT_H

#include "conntrack.h"
#include "metrics.h"

#ifndef HW_SNAT_PORT_MIN
#define HW_SNAT_PORT_MIN 61000
#endif
#ifndef HW_SNAT_PORT_MAX
#define HW_SNAT_PORT_MAX 65535
#endif
#ifndef HW_SNAT_PROBES
#define HW_SNAT_PROBES 32
#endif

#ifndef HW_NAT_RECLAIM_BUDGET
#define HW_NAT_RECLAIM_BUDGET 2 /* > 1: the queue drains faster than flows close */
#endif

#define HW_EEXIST 17
#define HW_EADDRINUSE 98

/* seen_ns of a reservation being freed: no packet or new flow may take it. */
#define HW_NAT_DYING (~0ULL)

/* A reservation that still holds its tuple for its flow's packets. */
static __always_inline int hw_nat_live(const struct hw_nat_val *nv, __u8 proto, __u64 now)
{
    return nv->seen_ns != HW_NAT_DYING && !hw_expired(proto, nv->state, nv->seen_ns, now);
}

/* Queue the reservation rkey, whose TCP flow just closed. */
static __always_inline void hw_nat_queue_closed(const struct hw_tuple *rkey, __u64 now)
{
    __u32 zero = 0, idx;
    struct hw_nat_cursor *cur = hawser_nat_cursor.lookup(&zero);
    struct hw_nat_closed *slot;

    if (!cur)
        return;
    idx = __sync_fetch_and_add(&cur->head, 1) % HW_NAT_SIZE;
    slot = hawser_nat_closed.lookup(&idx);
    if (!slot)
        return;
    slot->key = *rkey;
    slot->at = now;
}

/* Free the queued reservation key if its flow is still closed and expired. Marked
 * dying first (compare-and-swap on seen_ns), so a new flow that takes it over at the
 * same moment keeps it: either the take-over or the free wins, never both. */
static __always_inline void hw_nat_free_closed(struct hw_tuple *key, __u64 now)
{
    struct hw_nat_val *nv = hawser_nat.lookup(key);
    __u64 seen;

    if (!nv || nv->state != HW_CT_CLOSED)
        return; /* gone (controller gc) or taken by a new flow */
    seen = nv->seen_ns;
    if (seen == HW_NAT_DYING || !hw_expired(key->proto, HW_CT_CLOSED, seen, now))
        return; /* seen again since it closed: queued again if it closes again */
    if (__sync_val_compare_and_swap(&nv->seen_ns, seen, HW_NAT_DYING) != seen)
        return;
    hawser_nat.delete(key);
    hw_count(HW_CNT_SNAT_RECLAIMED);
}

/* Free up to HW_NAT_RECLAIM_BUDGET queued reservations whose time has come. */
static __always_inline void hw_nat_reclaim(__u64 now)
{
    __u32 zero = 0, idx;
    struct hw_nat_cursor *cur = hawser_nat_cursor.lookup(&zero);
    struct hw_nat_closed *slot;
    struct hw_tuple key;
    __u64 head, tail;
    int i;

    if (!cur)
        return;
    for (i = 0; i < HW_NAT_RECLAIM_BUDGET; i++) {
        tail = cur->tail;
        head = cur->head;
        if (tail >= head)
            return;
        if (head - tail > HW_NAT_SIZE) { /* overrun: the oldest slots were overwritten */
            __sync_val_compare_and_swap(&cur->tail, tail, head - HW_NAT_SIZE);
            continue;
        }
        idx = tail % HW_NAT_SIZE;
        slot = hawser_nat_closed.lookup(&idx);
        /* the oldest is not due yet (or was queued by another CPU after `now` was read) */
        if (!slot || slot->at > now || now - slot->at <= HW_TIMEOUT_TCP_CLOSED)
            return;
        key = slot->key;
        if (__sync_val_compare_and_swap(&cur->tail, tail, tail + 1) != tail)
            continue; /* another CPU took this slot */
        hw_nat_free_closed(&key, now);
    }
}

/* An existing reservation may go to p's flow: it expired, it is p's own, or
 * its TCP flow closed and p opens a new connection. */
static __always_inline int hw_nat_reusable(const struct hw_tuple *rkey,
                                           const struct hw_nat_val *old, const struct hw_pkt *p,
                                           __u64 now)
{
    if (old->seen_ns == HW_NAT_DYING)
        return 0;
    if (hw_expired(rkey->proto, old->state, old->seen_ns, now))
        return 1;
    if (old->addr == p->t.saddr && old->port == p->t.sport)
        return 1; /* the same flow, whose CT entry was lost (LRU): keep its port */
    return old->state == HW_CT_CLOSED && hw_is_syn(p);
}

/* Take the reservation rkey for nv: free, or reusable. 0 or -errno. */
static __always_inline int hw_nat_reserve(struct hw_tuple *rkey, const struct hw_nat_val *nv,
                                          const struct hw_pkt *p, __u64 now)
{
    struct hw_nat_val *old;
    __u64 seen;
    int err = hawser_nat.insert(rkey, (struct hw_nat_val *)nv);

    if (err != -HW_EEXIST)
        return err;
    old = hawser_nat.lookup(rkey);
    if (!old)
        return err;
    seen = old->seen_ns;
    if (!hw_nat_reusable(rkey, old, p, now))
        return err;
    /* claim it: of two CPUs reusing the same entry, one wins the swap */
    if (__sync_val_compare_and_swap(&old->seen_ns, seen, nv->seen_ns) != seen)
        return err;
    if (old->state == HW_CT_CLOSED && !hw_expired(rkey->proto, old->state, seen, now) &&
        (old->addr != nv->addr || old->port != nv->port))
        hw_count(HW_CNT_SNAT_CLOSED_REUSED);
    old->addr = nv->addr;
    old->port = nv->port;
    old->state = nv->state;
    old->flags = nv->flags;
    old->created_ns = nv->created_ns;
    return 0;
}

/* A socket of the node's own stack already uses the translated tuple rkey
 * (its replies would be taken for ours): an established or closing TCP
 * socket, or a UDP socket that would receive them. Listeners do not count. */
static __always_inline int hw_node_sock_holds(struct __sk_buff *skb, const struct hw_tuple *rkey)
{
    struct bpf_sock_tuple t = {};
    struct bpf_sock *sk;
    int held;

    t.ipv4.saddr = rkey->saddr;
    t.ipv4.daddr = rkey->daddr;
    t.ipv4.sport = rkey->sport;
    t.ipv4.dport = rkey->dport;
    if (rkey->proto == IPPROTO_TCP) {
        sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
        if (!sk)
            return 0;
        held = sk->state != BPF_TCP_LISTEN;
        bpf_sk_release(sk);
        return held;
    }
    if (rkey->proto == IPPROTO_UDP) {
        sk = bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
        if (!sk)
            return 0;
        bpf_sk_release(sk);
        return 1;
    }
    return 0;
}

/* Try port as the translated source of p. 0, -EEXIST (taken) or -errno. */
static __always_inline int hw_snat_try(struct __sk_buff *skb, const struct hw_pkt *p,
                                       struct hw_tuple *rkey, const struct hw_nat_val *nv,
                                       __u16 port, __u64 now)
{
    rkey->dport = port;
    if (hw_node_sock_holds(skb, rkey))
        return -HW_EADDRINUSE;
    return hw_nat_reserve(rkey, nv, p, now);
}

/* Reserve a source port on snat_ip for the flow p and create both entries:
 * the CT entry (ct_type, keyed by p's tuple) and the reservation (nat_flags).
 * keep_port tries p's own source port first. The CT value comes back in *out. */
static __always_inline int hw_snat_new(struct __sk_buff *skb, struct hw_pkt *p, __u32 snat_ip,
                                       __u64 now, struct hw_ct_val *out, __u8 ct_type,
                                       __u8 nat_flags, int keep_port)
{
    struct hw_tuple rkey = {};
    struct hw_nat_val nv = {};
    __u32 range = HW_SNAT_PORT_MAX - HW_SNAT_PORT_MIN + 1;
    __u32 h;
    __u16 port = 0;
    int err = -HW_EEXIST, full = 0, i;

    hw_nat_reclaim(now);
    hw_ct_init(out, p, ct_type, now);
    out->src_ip = snat_ip;
    rkey.saddr = p->t.daddr;
    rkey.daddr = snat_ip;
    rkey.sport = p->t.dport;
    rkey.proto = p->t.proto;
    nv.addr = p->t.saddr;
    nv.port = p->t.sport;
    nv.state = out->state;
    nv.flags = (out->flags & HW_CTF_FINS) | nat_flags;
    nv.created_ns = now;
    nv.seen_ns = now;

    /* the flow's own port, when the translated tuple is free */
    if (keep_port)
        err = hw_snat_try(skb, p, &rkey, &nv, p->t.sport, now);
    if (err == 0) {
        port = p->t.sport;
    } else {
        full = err != -HW_EEXIST && err != -HW_EADDRINUSE;
        h = (p->t.saddr ^ p->t.daddr ^ ((__u32)p->t.sport << 16) ^ p->t.dport) * 2654435761u;
        h += bpf_get_prandom_u32();
        for (i = 0; i < HW_SNAT_PROBES && !full; i++) {
            __u16 cand = bpf_htons(HW_SNAT_PORT_MIN + ((h + i * 7919) % range));

            err = hw_snat_try(skb, p, &rkey, &nv, cand, now);
            if (err == 0) {
                port = cand;
                break;
            }
            if (err != -HW_EEXIST && err != -HW_EADDRINUSE)
                full = 1; /* the insert itself failed: the table is full */
        }
        if (!port)
            return full ? -HW_DROP_CT_FULL : -HW_DROP_SNAT_NO_PORT;
    }

    out->src_port = port;
    if (hawser_ct.update(&p->t, out) < 0) {
        hawser_nat.delete(&rkey);
        return -HW_DROP_CT_FULL;
    }
    if (ct_type == HW_CT_NODE_SNAT) {
        hw_count(HW_CNT_NODE_MOVED);
    } else {
        hw_count(HW_CNT_SNAT_NEW);
        if (port == p->t.sport)
            hw_count(HW_CNT_SNAT_PORT_KEPT);
    }
    return 0;
}

/* Keep the reservation twin of a translated flow's CT entry in step (p goes
 * in the original direction); HW_MISS when it was lost or now belongs to
 * another flow, and the packet must start a new mapping. */
static __always_inline int hw_nat_touch(struct hw_pkt *p, struct hw_ct_val *ct, __u64 now)
{
    struct hw_tuple rkey;
    struct hw_nat_val *nv;
    __u16 fins;

    rkey.saddr = p->t.daddr;
    rkey.daddr = ct->src_ip;
    rkey.sport = p->t.dport;
    rkey.dport = ct->src_port;
    rkey.proto = p->t.proto;
    rkey.pad[0] = rkey.pad[1] = rkey.pad[2] = 0;
    nv = hawser_nat.lookup(&rkey);
    if (!nv || nv->addr != p->t.saddr || nv->port != p->t.sport || nv->seen_ns == HW_NAT_DYING)
        return HW_MISS;
    fins = ct->flags & HW_CTF_FINS;
    if (ct->state != HW_CT_NEW) {
        /* FINs crossing on two CPUs may each miss the other's bit in one of the two
         * entries, never in both: their union is the flow's (a reopened tuple starts clean) */
        fins |= nv->flags & HW_CTF_FINS;
        ct->flags |= fins;
        if (fins == HW_CTF_FINS)
            ct->state = HW_CT_CLOSED;
    }
    if (nv->state != HW_CT_CLOSED && ct->state == HW_CT_CLOSED)
        hw_nat_queue_closed(&rkey, now);
    nv->state = ct->state;
    nv->flags = (nv->flags & ~HW_CTF_FINS) | fins;
    nv->seen_ns = now;
    return 0;
}

#endif
