/* Verdict accounting and sampled events. The entry points alone call
 * hw_account(): one per packet, per direction and reason. Drops are emitted
 * as events up to a per-CPU budget per second, forwarded packets 1 of N. */
#ifndef HAWSER_METRICS_H
#define HAWSER_METRICS_H

#include "maps.h"
#include "parse.h"

static __always_inline int hw_drop_budget(__u64 now)
{
    __u32 zero = 0;
    __u64 limit = hw_config(HW_CFG_DROP_EVENTS_PER_SEC);
    struct hw_ratelimit *rl = hawser_ratelimit.lookup(&zero);

    if (!rl || !limit)
        return 0;
    if (now - rl->window_ns > 1000000000ULL) {
        rl->window_ns = now;
        rl->count = 0;
    }
    if (rl->count >= limit)
        return 0;
    rl->count++;
    return 1;
}

/* A drop of what an endpoint sent, on its counters: the entry exists already (from-container
 * counts every packet with hw_ep_count() first), so this never inserts; bounded by the
 * endpoints map like the rest of hawser_endpoint_stats. */
static __always_inline void hw_ep_drop(__u32 ifindex, __u32 len)
{
    struct hw_traffic *s = hawser_endpoint_stats.lookup(&ifindex);

    if (s) {
        s->drop_packets++;
        s->drop_bytes += len;
    }
}

static __always_inline void hw_account(void *ctx, __u32 dir, __u32 reason, __u32 len, __u32 ifindex,
                                       const struct hw_tuple *t)
{
    __u32 idx = dir * HW_REASON_SLOTS + reason;
    struct hw_stat *s = hawser_stats.lookup(&idx);
    int emit;

    if (s) {
        s->packets++;
        s->bytes += len;
    }
    if (reason != HW_FORWARDED && dir == HW_DIR_FROM_CONTAINER)
        hw_ep_drop(ifindex, len);
    if (reason == HW_FORWARDED) {
        __u64 rate = hw_config(HW_CFG_TRACE_RATE);
        emit = rate && (bpf_get_prandom_u32() % rate) == 0;
    } else {
        emit = hw_drop_budget(bpf_ktime_get_ns());
    }
    if (!emit)
        return;

    __u32 zero = 0;
    struct hw_event *e = hawser_event_scratch.lookup(&zero);
    if (!e)
        return;
    struct hw_event ev = {};
    ev.ts_ns = bpf_ktime_get_ns();
    ev.ifindex = ifindex;
    if (t) {
        ev.saddr = t->saddr;
        ev.daddr = t->daddr;
        ev.sport = t->sport;
        ev.dport = t->dport;
        ev.proto = t->proto;
    }
    ev.direction = dir;
    ev.verdict = reason == HW_FORWARDED ? HW_VERDICT_FORWARD : HW_VERDICT_DROP;
    ev.reason = reason;
    ev.len = len;
    *e = ev;
    hawser_events.perf_submit(ctx, e, sizeof(*e));
}

static __always_inline void hw_count(__u32 counter)
{
    __u64 *v = hawser_counters.lookup(&counter);

    if (v)
        (*v)++;
}

static __always_inline void hw_traffic_add(struct hw_traffic *s, __u32 len, int tx)
{
    if (tx) {
        s->tx_packets++;
        s->tx_bytes += len;
    } else {
        s->rx_packets++;
        s->rx_bytes += len;
    }
}

static __always_inline void hw_ep_count(__u32 ifindex, __u32 len, int tx)
{
    struct hw_traffic zero = {};
    struct hw_traffic *s = hawser_endpoint_stats.lookup_or_try_init(&ifindex, &zero);

    if (s)
        hw_traffic_add(s, len, tx);
}

static __always_inline void hw_port_count(struct hw_port_key *k, __u32 len, int new_conn)
{
    struct hw_port_stats zero = {};
    struct hw_port_stats *s = hawser_port_stats.lookup_or_try_init(k, &zero);

    if (!s)
        return;
    s->packets++;
    s->bytes += len;
    if (new_conn)
        s->conns++;
}

#endif
