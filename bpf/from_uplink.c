/* from-uplink
 * Attached: tc ingress (clsact, direct action) of every uplink of the node
 * (the interfaces outside traffic arrives on), in the node's netns.
 * Sees: every packet arriving from outside the node, before the node's stack.
 * 1. VXLAN from another node to this node's tunnel address: decapsulated
 *    (vxlan.h) and delivered like from-tunnel does (the
 *    node's VXLAN socket holds port 4789, so no masqueraded flow uses it);
 * 2. reverse SNAT of replies to masqueraded flows (hawser_nat) -> endpoint,
 *    or to the node's own flows that to-uplink moved to another port -> stack;
 * 3. DNAT of published ports (hawser_ports, exact host IP then wildcard),
 *    client source kept, CT entry for the reply -> endpoint;
 * 4. anything else goes to the stack untouched. */
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
#include "lib/tunnel.h"

static __always_inline int hw_uplink_rev_snat(struct __sk_buff *skb, struct hw_pkt *p, __u64 now)
{
    struct hw_nat_val *nv = hawser_nat.lookup(&p->t);
    struct hw_tuple ct_key;
    struct hw_ct_val *ct;
    __u16 fins;
    __u8 was;
    int ret;

    if (!nv)
        return HW_MISS;
    if (!hw_nat_live(nv, p->t.proto, now))
        return HW_MISS; /* being freed, or gc removes it; the stack answers */

    /* the twin CT entry (from-container side), kept alive and in step */
    ct_key.saddr = nv->addr;
    ct_key.daddr = p->t.saddr;
    ct_key.sport = nv->port;
    ct_key.dport = p->t.sport;
    ct_key.proto = p->t.proto;
    ct_key.pad[0] = ct_key.pad[1] = ct_key.pad[2] = 0;
    ct = hawser_ct.lookup(&ct_key);

    /* FINs crossing on two CPUs may each miss the other's bit in one of the two entries,
     * never in both: their union is the flow's */
    fins = nv->flags | (ct ? ct->flags & HW_CTF_FINS : 0);
    was = nv->state;
    nv->state = hw_next_state(p, was, &fins, 1);
    if (was != HW_CT_CLOSED && nv->state == HW_CT_CLOSED)
        hw_nat_queue_closed(&p->t, now);
    nv->flags = fins;
    nv->seen_ns = now;
    if (ct) {
        ct->state = nv->state;
        ct->flags = (ct->flags & ~HW_CTF_FINS) | (fins & HW_CTF_FINS);
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
    __u32 vni, node_ip;
    __u64 now;
    int ret;

    ret = hw_parse(skb, &p);
    if (ret == 0 && hw_vxlan_decap(skb, &p, &vni, &node_ip) == 0)
        return hw_tunnel_in(skb, &p, vni, node_ip);
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
