/* from-tunnel
 * Attached: tc ingress (clsact, direct action) of the node's collect-metadata
 * VXLAN device, in the node's netns.
 * Sees: the overlay packets another node sent to this one that from-uplink
 * did not decapsulate itself (e.g. outer fragments the stack reassembled),
 * decapsulated by the device (inner Ethernet frame), with their tunnel key
 * (sender's underlay address, VNI). Delivered as tunnel.h says; anything else
 * is dropped. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/tunnel.h"

int hawser_from_tunnel(struct __sk_buff *skb)
{
    struct bpf_tunnel_key key = {};
    struct hw_pkt p;

    __builtin_memset(&p, 0, sizeof(p));
    if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0) {
        hw_account(skb, HW_DIR_FROM_TUNNEL, HW_DROP_MALFORMED, skb->len, skb->ingress_ifindex,
                   &p.t);
        return TC_ACT_SHOT;
    }
    return hw_tunnel_in(skb, &p, key.tunnel_id, bpf_htonl(key.remote_ipv4));
}
