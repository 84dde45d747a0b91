/* NAT: published-port lookup (DNAT) and masquerade (SNAT) with
 * collision-safe port reservation. A masqueraded flow owns two entries:
 * hawser_ct[tuple from the container] (type SNAT: new source) and
 * hawser_nat[reply tuple at the uplink] (original container address). The
 * reply tuple is reserved first with BPF_NOEXIST, so two flows never share
 * (remote, snat address, snat port, proto). */
#ifndef HAWSER_NAT_H
#define HAWSER_NAT_H

#include "conntrack.h"

#ifndef HW_SNAT_PORT_MIN
#define HW_SNAT_PORT_MIN 61000
#endif
#ifndef HW_SNAT_PORT_MAX
#define HW_SNAT_PORT_MAX 65535
#endif
#ifndef HW_SNAT_PROBES
#define HW_SNAT_PROBES 16
#endif

static __always_inline int hw_is_node_addr(__u32 addr)
{
    return hawser_node_addrs.lookup(&addr) != NULL;
}

/* Published port for (proto, dst, dport): exact host IP first, then the
 * wildcard when dst is one of the node's addresses. */
static __always_inline struct hw_port_val *
hw_port_lookup(struct hw_port_key *k, __u8 proto, __u32 daddr, __u16 dport, int dst_is_local)
{
    struct hw_port_val *v;

    k->host_ip = daddr;
    k->host_port = dport;
    k->proto = proto;
    k->pad = 0;
    v = hawser_ports.lookup(k);
    if (v || !dst_is_local)
        return v;
    k->host_ip = 0;
    return hawser_ports.lookup(k);
}

/* Take the reservation rkey: free, or held by an expired flow (reclaimed). 0 or -errno. */
static __always_inline int hw_nat_reserve(struct hw_tuple *rkey, struct hw_nat_val *nv, __u64 now)
{
    struct hw_nat_val *old;
    int err = hawser_nat.insert(rkey, nv);

    if (err != -17) /* EEXIST */
        return err;
    old = hawser_nat.lookup(rkey);
    if (old && hw_expired(rkey->proto, old->state, old->seen_ns, now))
        return hawser_nat.update(rkey, nv);
    return err;
}

/* Reserve a source port on snat_ip for the flow p (from the container) and
 * create both entries. On success the CT value is returned through *out. */
static __always_inline int hw_snat_new(struct hw_pkt *p, __u32 snat_ip, __u64 now,
                                       struct hw_ct_val *out)
{
    struct hw_tuple rkey = {};
    struct hw_nat_val nv = {};
    __u32 range = HW_SNAT_PORT_MAX - HW_SNAT_PORT_MIN + 1;
    __u32 h = (p->t.saddr ^ p->t.daddr ^ ((__u32)p->t.sport << 16) ^ p->t.dport ^ p->t.proto);
    __u16 port = 0;
    int i;

    rkey.saddr = p->t.daddr;
    rkey.daddr = snat_ip;
    rkey.sport = p->t.dport;
    rkey.proto = p->t.proto;
    nv.addr = p->t.saddr;
    nv.port = p->t.sport;
    nv.state = HW_CT_NEW;
    nv.created_ns = now;
    nv.seen_ns = now;

    /* First the original port when it is in the range (Linux keeps it when free), then
     * hash+probe. Ports outside the range may belong to the node's own sockets.
     * hawser_nat is a plain hash, not LRU: a live reservation is never evicted to make room
     * (its port would go to another flow while replies are in flight), so a full table
     * fails the insert and is counted. */
    rkey.dport = p->t.sport;
    if (bpf_ntohs(p->t.sport) >= HW_SNAT_PORT_MIN && bpf_ntohs(p->t.sport) <= HW_SNAT_PORT_MAX &&
        hw_nat_reserve(&rkey, &nv, now) == 0) {
        port = p->t.sport;
    } else {
        int full = 0;

        h = h * 2654435761u + bpf_get_prandom_u32();
#pragma unroll
        for (i = 0; i < HW_SNAT_PROBES; i++) {
            __u16 cand = bpf_htons(HW_SNAT_PORT_MIN + ((h + i * 7919) % range));
            int err;

            rkey.dport = cand;
            err = hw_nat_reserve(&rkey, &nv, now);
            if (err == 0) {
                port = cand;
                break;
            }
            if (err != -17) /* not EEXIST: the table is full */
                full = 1;
        }
        if (!port)
            return full ? -HW_DROP_CT_FULL : -HW_DROP_SNAT_NO_PORT;
    }

    __builtin_memset(out, 0, sizeof(*out));
    out->type = HW_CT_SNAT;
    out->src_ip = snat_ip;
    out->src_port = port;
    out->state = HW_CT_NEW;
    out->created_ns = now;
    out->seen_ns = now;
    if (hawser_ct.update(&p->t, out) < 0) {
        hawser_nat.delete(&rkey);
        return -HW_DROP_CT_FULL;
    }
    return 0;
}

#endif
