/* from-uplink
 * Attached: tc ingress (clsact, direct action) of every uplink of the node
 * (the interfaces outside traffic arrives on), in the node's netns.
 * Sees: every packet arriving from outside the node, before the node's stack.
 * 1. reverse SNAT of replies to masqueraded flows (hawser_nat) -> endpoint,
 *    or to the node's own flows that to-uplink moved to another port -> stack;
 * 2. DNAT of published ports (hawser_ports, exact host IP then wildcard),
 *    client source kept, CT entry for the reply -> endpoint;
 * 3. anything else goes to the stack untouched. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/rewrite.h"
#include "lib/conntrack.h"
#include "lib/ports.h"
#include "lib/nat.h"
#include "lib/dnat.h"
#include "lib/deliver.h"

static __always_inline int hw_uplink_rev_snat(struct __sk_buff *skb, struct hw_pkt *p, __u64 now)
{
    struct hw_nat_val *nv = hawser_nat.lookup(&p->t);
    struct hw_tuple ct_key;
    struct hw_ct_val *ct;
    __u16 fins;
    int ret;

    if (!nv)
        return HW_MISS;
    if (hw_expired(p->t.proto, nv->state, nv->seen_ns, now))
        return HW_MISS; /* gc removes it; the stack answers */
    fins = nv->flags;
    nv->state = hw_next_state(p, nv->state, &fins, 1);
    nv->flags = fins;
    nv->seen_ns = now;

    /* keep the twin CT entry (from-container side) alive and in step */
    ct_key.saddr = nv->addr;
    ct_key.daddr = p->t.saddr;
    ct_key.sport = nv->port;
    ct_key.dport = p->t.sport;
    ct_key.proto = p->t.proto;
    ct_key.pad[0] = ct_key.pad[1] = ct_key.pad[2] = 0;
    ct = hawser_ct.lookup(&ct_key);
    if (ct) {
        ct->state = nv->state;
        ct->flags = (ct->flags & ~HW_CTF_FINS) | fins;
        ct->seen_ns = now;
    }

    ret = hw_set_peer(skb, p, 0, nv->addr, nv->port);
    if (ret < 0)
        return ret;
    if (nv->flags & HW_NATF_NODE)
        return TC_ACT_OK; /* a node flow moved off a container's tuple: to the stack */
    ret = hw_to_endpoint(skb, p);
    return ret == HW_MISS ? -HW_DROP_NO_ENDPOINT : ret;
}

static __always_inline int hw_uplink_dnat(struct __sk_buff *skb, struct hw_pkt *p, __u64 now)
{
    struct hw_port_key pk;
    struct hw_port_val *pv = hw_published(&pk, p);

    if (!pv)
        return HW_MISS;
    /* the client's own address is kept */
    return hw_dnat_forward(skb, p, &pk, pv, p->t.saddr, 0, now);
}

int hawser_from_uplink(struct __sk_buff *skb)
{
    struct hw_pkt p;
    __u64 now;
    int ret;

    ret = hw_parse(skb, &p);
    if (ret == 0) {
        now = bpf_ktime_get_ns();
        ret = hw_uplink_rev_snat(skb, &p, now);
        if (ret == HW_MISS)
            ret = hw_uplink_dnat(skb, &p, now);
    }
    if (ret == HW_MISS)
        return TC_ACT_OK; /* not ours: host traffic, counted nowhere */
    if (ret < 0) {
        hw_account(skb, HW_DIR_FROM_UPLINK, -ret, skb->len, skb->ingress_ifindex, &p.t);
        return TC_ACT_SHOT;
    }
    hw_account(skb, HW_DIR_FROM_UPLINK, HW_FORWARDED, skb->len, skb->ingress_ifindex, &p.t);
    return ret;
}
