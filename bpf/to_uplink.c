/* to-uplink
 * Attached: tc egress (clsact, direct action) of every uplink of the node.
 * Sees: every packet leaving through an uplink; it examines only the node's
 * own (skb->ingress_ifindex == 0: made by a socket of the node, not
 * forwarded, not a container flow from-container already translated).
 * Masquerade keeps a container's source port when the translated tuple is
 * free; a socket of the node opened later to the same remote address and
 * port may pick that same port, and from-uplink would hand its replies to the
 * container. Such a node flow gets another source port here (and from-uplink
 * restores it on the replies), the way the kernel's NAT remaps a local
 * connection that clashes with a NAT mapping. Everything else passes. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/rewrite.h"
#include "lib/conntrack.h"
#include "lib/nat.h"
#include "lib/metrics.h"

static __always_inline int hw_node_egress(struct __sk_buff *skb, struct hw_pkt *p)
{
    struct hw_ct_val *ct, nct;
    struct hw_nat_val *nv;
    struct hw_tuple rkey;
    __u64 now;
    int ret;

    if (!p->has_ports || (p->t.proto == IPPROTO_ICMP && p->icmp_type != ICMP_ECHO))
        return HW_MISS;
    now = bpf_ktime_get_ns();
    ct = hw_ct_lookup(&p->t, now);
    if (ct && ct->type == HW_CT_NODE_SNAT) {
        hw_ct_touch(ct, p, 0, now);
        if (hw_nat_touch(p, ct, now) == 0) {
            ret = hw_set_port(skb, p, 1, ct->src_port);
            return ret < 0 ? ret : TC_ACT_OK;
        }
        hawser_ct.delete(&p->t); /* its reservation is gone: look again */
    }
    if (p->t.proto == IPPROTO_TCP && !hw_is_syn(p))
        return HW_MISS; /* only a flow's first packet can be given another port */
    hw_tuple_swap(&p->t, &rkey);
    nv = hawser_nat.lookup(&rkey);
    if (!nv || !hw_nat_live(nv, rkey.proto, now))
        return HW_MISS; /* no translated flow holds this tuple: untouched */
    ret = hw_snat_new(skb, p, p->t.saddr, now, &nct, HW_CT_NODE_SNAT, HW_NATF_NODE, 0);
    if (ret < 0)
        return ret;
    ret = hw_set_port(skb, p, 1, nct.src_port);
    return ret < 0 ? ret : TC_ACT_OK;
}

int hawser_to_uplink(struct __sk_buff *skb)
{
    struct hw_pkt p;
    int ret;

    if (skb->ingress_ifindex)
        return TC_ACT_OK;
    ret = hw_parse(skb, &p);
    if (ret == 0)
        ret = hw_node_egress(skb, &p);
    if (ret == HW_MISS)
        return TC_ACT_OK;
    if (ret < 0) {
        hw_account(skb, HW_DIR_TO_UPLINK, -ret, skb->len, skb->ifindex, &p.t);
        return TC_ACT_SHOT;
    }
    hw_account(skb, HW_DIR_TO_UPLINK, HW_FORWARDED, skb->len, skb->ifindex, &p.t);
    return ret;
}
