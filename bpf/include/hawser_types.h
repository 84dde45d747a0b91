/* Types shared by the BPF programs and the Python loader (controller/datapath).
 *
 * Python never mirrors these structs by hand: it decodes map contents with the
 * Key/Leaf ctypes bcc derives from them, and parses enum hw_reason below from
 * this file. All addresses and ports are in network byte order. Every key has
 * explicit padding so that hashing never sees uninitialised bytes.
 */
#ifndef HAWSER_TYPES_H
#define HAWSER_TYPES_H

/* Drop reasons / verdict causes. APPEND-ONLY: values are exported as metrics
 * and index the pinned stats map. 0 means forwarded; inner helpers return
 * -reason for a drop, so these never collide with TC_ACT_* codes (>= 0). */
enum hw_reason {
    HW_FORWARDED = 0,
    HW_DROP_ICC = 1,          /* icc disabled and no allow entry */
    HW_DROP_ISOLATION = 2,    /* destination in another Hawser network */
    HW_DROP_INTERNAL = 3,     /* internal network: destination outside the subnet */
    HW_DROP_SNAT_NO_PORT = 4, /* no free masquerade source port after probing */
    HW_DROP_CT_FULL = 5,      /* conntrack/NAT insert failed */
    HW_DROP_FIB = 6,          /* no route for a translated packet */
    HW_DROP_MALFORMED = 7,    /* truncated or unparsable header */
    HW_DROP_PROTO = 8,        /* protocol cannot be masqueraded */
    HW_DROP_REWRITE = 9,      /* a packet rewrite helper failed */
    HW_DROP_NO_ENDPOINT = 10, /* translated destination has no endpoint entry */
    HW_DROP_REDIRECT = 11,    /* bpf_redirect* refused the packet (bad ifindex or arguments) */
    HW_DROP_NO_TUNNEL = 12,   /* overlay destination on no node: no tunnel entry */
    HW_DROP_MTU = 13,         /* larger than the overlay's MTU: would be fragmented */
    HW_DROP_VNI = 14,         /* tunnel packet for a network this node does not have */
    HW_REASON_MAX = 15,       /* keep last; must stay below HW_REASON_SLOTS */
};

/* Fixed dimensions of the stats map, so that appending a reason or a
 * direction never changes the pinned map's size. */
#define HW_REASON_SLOTS 64
#define HW_DIR_SLOTS 8

/* Directions, the first dimension of the stats map. */
enum hw_direction {
    HW_DIR_FROM_UPLINK = 0,
    HW_DIR_FROM_CONTAINER = 1,
    HW_DIR_SOCK = 2,
    HW_DIR_TO_UPLINK = 3,   /* the node's own packets leaving through an uplink */
    HW_DIR_FROM_TUNNEL = 4, /* overlay packets arriving from other nodes (VXLAN) */
    HW_DIR_MAX = 5,
};

/* Flow events counted in hawser_counters. APPEND-ONLY (exported as metrics). */
enum hw_counter {
    HW_CNT_DNAT_NEW = 0,           /* connections to published ports */
    HW_CNT_SNAT_NEW = 1,           /* masqueraded flows started */
    HW_CNT_SNAT_PORT_KEPT = 2,     /* ... that kept the container's own source port */
    HW_CNT_SNAT_CLOSED_REUSED = 3, /* ... that took the tuple of a closed TCP flow */
    HW_CNT_NODE_MOVED = 4,         /* node flows moved off a tuple a masqueraded flow holds */
    HW_CNT_SNAT_RECLAIMED = 5,     /* expired reservations of closed flows freed by the datapath */
    HW_CNT_MAX = 6,                /* keep last; below HW_CNT_SLOTS */
};
#define HW_CNT_SLOTS 32

/* Network flags. */
#define HW_NET_ICC 0x1
#define HW_NET_MASQ 0x2
#define HW_NET_INTERNAL 0x4
#define HW_NET_OVERLAY 0x8 /* spans nodes: remote endpoints are reached through the tunnel */

/* Conntrack entry types. */
enum hw_ct_type {
    HW_CT_DNAT = 1,      /* reply of a published-port flow: restore src (and dst) */
    HW_CT_SNAT = 2,      /* masqueraded egress flow: rewrite src */
    HW_CT_ALLOW = 3,     /* reply of an icc-allowed flow: pass */
    HW_CT_NODE_SNAT = 4, /* the node's own flow, moved off a tuple a masqueraded flow holds */
};

/* Conntrack flags (hw_ct_val.flags; the FIN bits also in hw_nat_val.flags). */
#define HW_CTF_HAIRPIN_SNAT 0x1 /* client==backend: source was SNAT'd to the gateway */
#define HW_CTF_FIN_ORIG 0x2     /* FIN seen from the side that opened the flow */
#define HW_CTF_FIN_REPLY 0x4    /* FIN seen from the other side */
#define HW_CTF_FINS (HW_CTF_FIN_ORIG | HW_CTF_FIN_REPLY)
/* hw_nat_val.flags: the reservation is a node flow's, not a container's */
#define HW_NATF_NODE 0x8

/* TCP tracking states (UDP and ICMP flows are ESTABLISHED from their first packet). */
enum hw_ct_state {
    HW_CT_NEW = 0,         /* SYN seen, no answer yet */
    HW_CT_ESTABLISHED = 1, /* answered, or picked up mid-flow */
    HW_CT_CLOSING = 2,     /* one side sent FIN: half-closed, data may still flow */
    HW_CT_CLOSED = 3,      /* FIN from both sides, or RST: a new SYN may take the tuple */
};

/* Indexes of the config array. */
enum hw_config {
    HW_CFG_NETNS_COOKIE = 0,
    HW_CFG_TRACE_RATE = 1,          /* emit 1 of N forwarded packets as trace; 0 = off */
    HW_CFG_DROP_EVENTS_PER_SEC = 2, /* per-CPU drop event budget */
    HW_CFG_TUNNEL_IFINDEX = 3,      /* the node's collect-metadata VXLAN device; 0 = none */
    HW_CFG_TUNNEL_SRC = 4,          /* underlay address (network order) when the datapath
                                     * encapsulates itself (vxlan.h); 0 = the device does */
    HW_CFG_TUNNEL_UPLINK = 5,       /* ... and the interface that address is on */
    HW_CFG_MAX = 6,
};

/* Event verdicts. */
#define HW_VERDICT_FORWARD 0
#define HW_VERDICT_DROP 1

struct hw_port_key {
    __u32 host_ip; /* 0 = any node address */
    __u16 host_port;
    __u8 proto;
    __u8 pad;
};

struct hw_port_val {
    __u32 backend_ip;
    __u16 backend_port;
    __u16 flags;
    __u32 ifindex; /* host-side veth of the backend endpoint */
};

struct hw_port_stats {
    __u64 conns;
    __u64 packets;
    __u64 bytes;
};

struct hw_endpoint {
    __u32 ifindex; /* host-side veth */
    __u32 network;
    __u8 mac[6];
    __u8 pad[2];
};

/* Traffic counters of one endpoint (rx: delivered to it by the datapath, tx: sent by it,
 * seen at its host veth, drop: what it sent that from-container dropped) or of one remote
 * node (rx: received from it through the tunnel and delivered, tx: sent to it; drop unused). */
struct hw_traffic {
    __u64 rx_packets;
    __u64 rx_bytes;
    __u64 tx_packets;
    __u64 tx_bytes;
    __u64 drop_packets;
    __u64 drop_bytes;
};

struct hw_network {
    __u32 subnet;
    __u32 gateway;
    __u32 snat_ip; /* 0 = egress uplink address */
    __u8 prefix;
    __u8 pad;
    __u16 flags;
    __u8 bridge_mac[6];
    __u16 mtu; /* overlay: largest IP packet the tunnel carries whole; 0 = no check */
    __u32 vni; /* overlay: VXLAN network identifier; 0 for local networks */
};

/* hawser_tunnel value; key = address of an endpoint on another node. */
struct hw_tunnel {
    __u32 node_ip; /* underlay address of the node that has the endpoint */
    __u32 vni;
    __u8 mac[6];
    __u8 pad[2];
};

struct hw_lpm_key {
    __u32 prefixlen;
    __u32 addr;
};

struct hw_uplink {
    __u32 addr;
    __u32 pad;
};

struct hw_policy_key {
    __u32 src;
    __u32 dst;
    __u8 proto;
    __u8 pad;
    __u16 dport;
};

/* A 5-tuple as seen on the wire at the hook doing the lookup. For ICMP echo
 * the identifier is carried as sport in requests and as dport in replies, so
 * that a reply's tuple is the exact swap of its request's. */
struct hw_tuple {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 pad[3];
};

/* hawser_ct value; key = tuple as seen at from-container. */
struct hw_ct_val {
    __u32 src_ip; /* rewrite source to this (DNAT reply, SNAT) */
    __u32 dst_ip; /* rewrite destination to this (hairpin SNAT reply) */
    __u16 src_port;
    __u16 dst_port;
    __u8 type;  /* enum hw_ct_type */
    __u8 state; /* enum hw_ct_state */
    __u16 flags;
    __u32 ifindex; /* DNAT: backend host veth */
    __u64 created_ns;
    __u64 seen_ns;
    __u64 packets;
    __u64 bytes;
};

/* hawser_nat value; key = tuple of a masqueraded reply as seen at from-uplink. */
struct hw_nat_val {
    __u32 addr; /* original source address (the container's, or the node's) */
    __u16 port; /* original source port / echo id */
    __u8 state; /* enum hw_ct_state, kept in step with the twin CT entry */
    __u8 flags; /* HW_CTF_FIN_*, HW_NATF_NODE */
    __u64 created_ns;
    __u64 seen_ns;
};

/* A slot of the closed-flow queue: the reservation hawser_nat[key] closed at `at`. */
struct hw_nat_closed {
    struct hw_tuple key;
    __u64 at;
};

/* Positions in the closed-flow queue: slots [tail, head) wait for their expiry. */
struct hw_nat_cursor {
    __u64 head;
    __u64 tail;
};

struct hw_sock_key {
    __u64 cookie;
    __u32 backend_ip;
    __u16 backend_port;
    __u16 pad;
};

struct hw_sock_val {
    __u32 orig_ip;
    __u16 orig_port;
    __u16 pad;
};

/* hawser_sandbox_dns value; key = netns cookie of a sandbox on a user network. */
struct hw_dns {
    __u32 addr; /* where the embedded DNS answers for it (its first user network's gateway) */
    __u16 port;
    __u16 pad;
};

struct hw_stat {
    __u64 packets;
    __u64 bytes;
};

struct hw_ratelimit {
    __u64 window_ns;
    __u64 count;
};

struct hw_event {
    __u64 ts_ns;
    __u32 ifindex;
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 direction;
    __u8 verdict;
    __u8 pad;
    __u32 reason;
    __u32 len;
};

#endif
