/* sock
 * Attached: cgroup v2 connect4 / sendmsg4 / recvmsg4 / getpeername4 hooks,
 * with BPF_F_ALLOW_MULTI, on the configured cgroup (the v2 root by default).
 * Sees: every IPv4 connect/sendmsg/recvmsg/getpeername of processes in that
 * cgroup, in every netns. It acts on two kinds of sockets:
 * - the node's own (netns cookie hawser_config[HW_CFG_NETNS_COOKIE]): a
 *   host-local client dialling 127.0.0.1:port or a node address:port of a
 *   published port is sent straight to the backend. A port bound to
 *   127.0.0.1 matches only 127.0.0.1;
 * - a sandbox's on a user network (its netns cookie in hawser_sandbox_dns):
 *   Docker's embedded DNS address 127.0.0.11:53 is sent to Hawser's DNS.
 * The dialled address is remembered per socket so that getpeername() and
 * recvfrom() show it back. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/in.h>
#include "lib/maps.h"
#include "lib/ports.h"
#include "lib/metrics.h"

#define HW_LOOPBACK_HOST 0x7f000001 /* 127.0.0.1 */
#define HW_EMBEDDED_DNS 0x7f00000b  /* 127.0.0.11, Docker's embedded DNS */
#define HW_DNS_PORT 53

static __always_inline int hw_sock_ours(struct bpf_sock_addr *ctx)
{
    __u64 want = hw_config(HW_CFG_NETNS_COOKIE);

    return want && bpf_get_netns_cookie(ctx) == want;
}

/* Send the socket to backend:port, remembering what it dialled. */
static __always_inline void hw_sock_redirect(struct bpf_sock_addr *ctx, __u32 backend, __u16 port)
{
    struct hw_sock_key sk = {};
    struct hw_sock_val sv = {};

    sk.cookie = bpf_get_socket_cookie(ctx);
    sk.backend_ip = backend;
    sk.backend_port = port;
    sv.orig_ip = ctx->user_ip4;
    sv.orig_port = (__u16)ctx->user_port;
    hawser_sock.update(&sk, &sv);
    ctx->user_ip4 = backend;
    ctx->user_port = port;
}

/* 127.0.0.11:53 from a sandbox of this node -> its embedded DNS. */
static __always_inline void hw_sock_dns(struct bpf_sock_addr *ctx)
{
    struct hw_dns *dns;
    __u64 cookie;

    if (ctx->user_ip4 != bpf_htonl(HW_EMBEDDED_DNS) ||
        (__u16)ctx->user_port != bpf_htons(HW_DNS_PORT))
        return;
    cookie = bpf_get_netns_cookie(ctx);
    dns = hawser_sandbox_dns.lookup(&cookie);
    if (!dns)
        return;
    hw_sock_redirect(ctx, dns->addr, dns->port);
    hw_account(ctx, HW_DIR_SOCK, HW_FORWARDED, 0, 0, NULL);
}

static __always_inline void hw_sock_xlate(struct bpf_sock_addr *ctx)
{
    struct hw_port_key pk;
    struct hw_port_val *pv;
    __u32 ip = ctx->user_ip4;
    __u16 port = (__u16)ctx->user_port;
    __u8 proto = ctx->protocol;
    int local;

    if (!hw_sock_ours(ctx)) {
        hw_sock_dns(ctx);
        return;
    }
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
        return;
    local = ip == bpf_htonl(HW_LOOPBACK_HOST) || hw_is_node_addr(ip);
    pv = hw_port_lookup(&pk, proto, ip, port, local);
    if (!pv)
        return;
    hw_sock_redirect(ctx, pv->backend_ip, pv->backend_port);
    hw_port_count(&pk, 0, proto == IPPROTO_TCP);
    hw_account(ctx, HW_DIR_SOCK, HW_FORWARDED, 0, 0, NULL);
}

static __always_inline void hw_sock_reverse(struct bpf_sock_addr *ctx)
{
    struct hw_sock_key sk = {};
    struct hw_sock_val *sv;

    /* any netns: socket cookies are unique, and only redirected sockets have entries */
    sk.cookie = bpf_get_socket_cookie(ctx);
    sk.backend_ip = ctx->user_ip4;
    sk.backend_port = (__u16)ctx->user_port;
    sv = hawser_sock.lookup(&sk);
    if (!sv)
        return;
    ctx->user_ip4 = sv->orig_ip;
    ctx->user_port = sv->orig_port;
}

/* attach: cgroup/connect4 */
int hawser_connect4(struct bpf_sock_addr *ctx)
{
    hw_sock_xlate(ctx);
    return 1;
}

/* attach: cgroup/sendmsg4 */
int hawser_sendmsg4(struct bpf_sock_addr *ctx)
{
    hw_sock_xlate(ctx);
    return 1;
}

/* attach: cgroup/recvmsg4 */
int hawser_recvmsg4(struct bpf_sock_addr *ctx)
{
    hw_sock_reverse(ctx);
    return 1;
}

/* attach: cgroup/getpeername4 */
int hawser_getpeername4(struct bpf_sock_addr *ctx)
{
    hw_sock_reverse(ctx);
    return 1;
}
