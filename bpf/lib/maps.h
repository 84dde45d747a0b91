/* Every map of the datapath. Pinned under HAWSER_PIN_DIR (set by the loader:
 * /sys/fs/bpf/hawser/<node>/v<PIN_VERSION>) so a restarted daemon reuses them. Sizes can
 * be overridden with -DHW_<NAME>_SIZE=... */
#ifndef HAWSER_MAPS_H
#define HAWSER_MAPS_H

#include "hawser_types.h"

#ifndef HAWSER_PIN_DIR
#error "HAWSER_PIN_DIR must be defined by the loader"
#endif
#define HW_PIN(name) HAWSER_PIN_DIR "/" #name
#define HW_MAP(type, k, v, name, size) BPF_TABLE_PINNED(type, k, v, name, size, HW_PIN(name))
#define HW_MAP_F(type, k, v, name, size, fl)                                                       \
    BPF_TABLE_PINNED(type, k, v, name, size, HW_PIN(name), fl)

#ifndef HW_PORTS_SIZE
#define HW_PORTS_SIZE 65536
#endif
#ifndef HW_ENDPOINTS_SIZE
#define HW_ENDPOINTS_SIZE 16384
#endif
#ifndef HW_NETWORKS_SIZE
#define HW_NETWORKS_SIZE 1024
#endif
#ifndef HW_UPLINKS_SIZE
#define HW_UPLINKS_SIZE 64
#endif
#ifndef HW_NODE_ADDRS_SIZE
#define HW_NODE_ADDRS_SIZE 1024
#endif
#ifndef HW_POLICY_SIZE
#define HW_POLICY_SIZE 16384
#endif
/* conntrack and masquerade hold a closed TCP flow 10 s (HW_TIMEOUT_TCP_CLOSED): 262,144
 * entries carry ~25,000 new connections/s to distinct destinations (the kernel's
 * nf_conntrack_max is of the same order) */
#ifndef HW_CT_SIZE
#define HW_CT_SIZE 262144
#endif
#ifndef HW_NAT_SIZE
#define HW_NAT_SIZE 262144
#endif
#ifndef HW_SOCK_SIZE
#define HW_SOCK_SIZE 65536
#endif
#ifndef HW_SANDBOXES_SIZE
#define HW_SANDBOXES_SIZE 16384
#endif
#ifndef HW_TUNNEL_SIZE
#define HW_TUNNEL_SIZE 65536
#endif
#ifndef HW_TUNNEL_NODES_SIZE
#define HW_TUNNEL_NODES_SIZE 1024
#endif

/* writer: controller (add_ports); readers: from-uplink, from-container, sock */
HW_MAP("hash", struct hw_port_key, struct hw_port_val, hawser_ports, HW_PORTS_SIZE);
/* writer: from-uplink, from-container; reader: controller (port_stats) */
HW_MAP("percpu_hash", struct hw_port_key, struct hw_port_stats, hawser_port_stats, HW_PORTS_SIZE);
/* writer: controller (attach_endpoint); readers: from-uplink, from-container */
HW_MAP("hash", __u32, struct hw_endpoint, hawser_endpoints, HW_ENDPOINTS_SIZE);
/* writer: from-uplink, from-container; reader: controller (endpoint_stats) */
HW_MAP("percpu_hash", __u32, struct hw_traffic, hawser_endpoint_stats, HW_ENDPOINTS_SIZE);
/* writer: controller (set_network); readers: from-uplink, from-container */
HW_MAP("hash", __u32, struct hw_network, hawser_networks, HW_NETWORKS_SIZE);
/* writer: controller (set_network); reader: from-container */
HW_MAP_F("lpm_trie", struct hw_lpm_key, __u32, hawser_subnets, HW_NETWORKS_SIZE, BPF_F_NO_PREALLOC);
/* writer: controller (attach_uplink); reader: from-container (masquerade source) */
HW_MAP("hash", __u32, struct hw_uplink, hawser_uplinks, HW_UPLINKS_SIZE);
/* writer: controller (node addresses, uplinks, gateways); readers: all programs */
HW_MAP("hash", __u32, __u32, hawser_node_addrs, HW_NODE_ADDRS_SIZE);
/* writer: controller (allow); reader: from-container */
HW_MAP("hash", struct hw_policy_key, __u32, hawser_policy, HW_POLICY_SIZE);
/* writers: from-uplink, from-container, controller (gc, flush); readers: same */
HW_MAP("lru_hash", struct hw_tuple, struct hw_ct_val, hawser_ct, HW_CT_SIZE);
/* writers: from-container (reserve), from-uplink, controller (gc); reader: from-uplink.
 * A plain hash: live port reservations are never evicted (see nat.h). */
HW_MAP("hash", struct hw_tuple, struct hw_nat_val, hawser_nat, HW_NAT_SIZE);
/* writers: from-uplink, from-container, to-uplink (nat.h: a reservation whose TCP flow
 * closed is queued; expired ones are freed as new flows come); reader: the same */
HW_MAP("array", __u32, struct hw_nat_closed, hawser_nat_closed, HW_NAT_SIZE);
HW_MAP("array", __u32, struct hw_nat_cursor, hawser_nat_cursor, 1);
/* writer: sock (connect4/sendmsg4); readers: sock (getpeername4/recvmsg4) */
HW_MAP("lru_hash", struct hw_sock_key, struct hw_sock_val, hawser_sock, HW_SOCK_SIZE);
/* writer: controller (DNS plugin); reader: sock (127.0.0.11:53 in sandboxes) */
HW_MAP("hash", __u64, struct hw_dns, hawser_sandbox_dns, HW_SANDBOXES_SIZE);
/* writer: all programs; reader: controller (stats). Index dir*HW_REASON_SLOTS+reason */
HW_MAP("percpu_array", __u32, struct hw_stat, hawser_stats, HW_DIR_SLOTS *HW_REASON_SLOTS);
/* writer: controller (overlay: remote endpoints from the cluster store);
 * readers: from-container (encapsulation, ARP answers) */
HW_MAP("hash", __u32, struct hw_tunnel, hawser_tunnel, HW_TUNNEL_SIZE);
/* writers: from-container (tx), from-tunnel (rx); reader: controller (metrics per node) */
HW_MAP("percpu_hash", __u32, struct hw_traffic, hawser_tunnel_stats, HW_TUNNEL_NODES_SIZE);
/* writers: from-uplink, from-container, to-uplink; reader: controller (flow event counters) */
HW_MAP("percpu_array", __u32, __u64, hawser_counters, HW_CNT_SLOTS);
/* writer: controller (start); readers: all programs */
HW_MAP("array", __u32, __u64, hawser_config, HW_CFG_MAX);
/* writer: programs (drop-event budget); reader: programs */
BPF_TABLE("percpu_array", __u32, struct hw_ratelimit, hawser_ratelimit, 1);
/* writer: programs (builds an event off-stack); reader: controller, which
 * decodes perf events with this map's leaf type */
BPF_TABLE("percpu_array", __u32, struct hw_event, hawser_event_scratch, 1);
/* writer: programs; reader: controller (open_events). Not pinned: events are live only */
BPF_PERF_OUTPUT(hawser_events);

static __always_inline __u64 hw_config(__u32 idx)
{
    __u64 *v = hawser_config.lookup(&idx);
    return v ? *v : 0;
}

#endif
