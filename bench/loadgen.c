// Hawser benchmark load generator and server (built by bench/build.py at run time).
//
//   loadgen server PORT [NPORTS]   TCP on PORT..PORT+NPORTS-1 and UDP on PORT, all addresses.
//       TCP: answers MSG bytes for every MSG bytes read. A request made of 'C' bytes is answered
//       and then the server closes first, so the server holds TIME_WAIT (an HTTP server with
//       `Connection: close`). Accepted connections are counted per peer address.
//       UDP: counts datagrams; "RST?" zeroes the count and answers "OK", "CNT?" answers the count
//       as decimal text, "PEER" answers {"accepted":N,"peers":{"ADDR":N,...}} and zeroes them.
//   loadgen rr   HOST PORT SECONDS CONC [OPTS]  CONC persistent connections, request/response
//   loadgen crr  HOST PORT SECONDS CONC [OPTS]  CONC slots: connect, request, response, close
//       -s ADDR/N   bind each new connection to the next of N addresses from ADDR (round robin)
//       -d N        connect to the next of N consecutive addresses from HOST (round robin)
//       -i SECS     also report completed operations per SECS interval
//       -c          server closes first ('C' requests; the client closes after the server's FIN);
//                   without -c a crr client closes with RST (no TIME_WAIT anywhere)
//   loadgen udp  HOST PORT SECONDS SIZE        flood SIZE-byte datagrams, then ask the server count
//   loadgen peers HOST PORT                    print (and zero) the server's accepted-peer table
//
// Clients print one JSON object on stdout. Every client stops by itself after SECONDS (+2 s grace).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAX_EVENTS 256
#define MAX_PORTS 64
#define MAX_PEERS 256
#define MAX_ADDRS 1024
#define MAX_INTERVALS 4096
#define MAX_SAMPLES (1u << 24)
#define GRACE_NS 2000000000ull

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static struct sockaddr_in make_addr(const char *host, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address: %s\n", host);
        exit(2);
    }
    return sa;
}

/* N consecutive addresses from base (host byte order arithmetic), same port. */
static void addr_range(struct sockaddr_in *out, int n, struct sockaddr_in base)
{
    uint32_t first = ntohl(base.sin_addr.s_addr);
    for (int i = 0; i < n; i++) {
        out[i] = base;
        out[i].sin_addr.s_addr = htonl(first + (uint32_t)i);
    }
}

/* ---------------- server ---------------- */

struct conn {
    int fd;
    unsigned pending; /* request bytes read but not yet answered */
    int close_after;  /* a 'C' request: close once it is answered */
};

struct peer {
    uint32_t addr; /* network order; 0 = free */
    uint64_t count;
};

static struct peer peers[MAX_PEERS];
static uint64_t accepted, peers_overflow;

static void count_peer(uint32_t addr)
{
    accepted++;
    uint32_t h = (addr * 2654435761u) % MAX_PEERS;
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &peers[(h + (uint32_t)i) % MAX_PEERS];
        if (p->addr == addr || p->addr == 0) {
            p->addr = addr;
            p->count++;
            return;
        }
    }
    peers_overflow++;
}

/* {"accepted":N,"overflow":N,"peers":{"a.b.c.d":N,...}} into out; zeroes the table. */
static int peers_json(char *out, size_t len)
{
    int n = snprintf(out, len, "{\"accepted\":%llu,\"overflow\":%llu,\"peers\":{",
                     (unsigned long long)accepted, (unsigned long long)peers_overflow);
    int first = 1;
    for (int i = 0; i < MAX_PEERS && n < (int)len - 64; i++) {
        if (!peers[i].addr)
            continue;
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {.s_addr = peers[i].addr};
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        n += snprintf(out + n, len - (size_t)n, "%s\"%s\":%llu", first ? "" : ",", ip,
                      (unsigned long long)peers[i].count);
        first = 0;
    }
    n += snprintf(out + n, len - (size_t)n, "}}");
    memset(peers, 0, sizeof(peers));
    accepted = peers_overflow = 0;
    return n;
}

static void serve_udp(int ufd, uint64_t *udp_count)
{
    static char ubuf[64][2048];
    static char out[8192];
    struct mmsghdr msgs[64];
    struct iovec iov[64];
    struct sockaddr_in from[64];
    for (;;) {
        for (int k = 0; k < 64; k++) {
            iov[k].iov_base = ubuf[k];
            iov[k].iov_len = sizeof(ubuf[k]);
            memset(&msgs[k], 0, sizeof(msgs[k]));
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            msgs[k].msg_hdr.msg_name = &from[k];
            msgs[k].msg_hdr.msg_namelen = sizeof(from[k]);
        }
        int got = recvmmsg(ufd, msgs, 64, MSG_DONTWAIT, NULL);
        if (got <= 0)
            return;
        for (int k = 0; k < got; k++) {
            int len = -1;
            if (msgs[k].msg_len == 4 && memcmp(ubuf[k], "RST?", 4) == 0) {
                *udp_count = 0;
                len = snprintf(out, sizeof(out), "OK");
            } else if (msgs[k].msg_len == 4 && memcmp(ubuf[k], "CNT?", 4) == 0) {
                len = snprintf(out, sizeof(out), "%llu", (unsigned long long)*udp_count);
            } else if (msgs[k].msg_len == 4 && memcmp(ubuf[k], "PEER", 4) == 0) {
                len = peers_json(out, sizeof(out));
            } else {
                (*udp_count)++;
            }
            if (len >= 0)
                sendto(ufd, out, (size_t)len, 0, (struct sockaddr *)&from[k],
                       msgs[k].msg_hdr.msg_namelen);
        }
    }
}

/* Read and answer; returns 1 when the connection is finished (closed and freed). */
static int serve_conn(struct conn *c, char *buf, size_t buflen, const char *reply)
{
    for (;;) {
        ssize_t r = read(c->fd, buf, buflen);
        if (r > 0) {
            if (buf[0] == 'C')
                c->close_after = 1;
            c->pending += (unsigned)r;
            while (c->pending >= MSG) {
                if (write(c->fd, reply, MSG) != MSG)
                    break;
                c->pending -= MSG;
            }
            if (c->close_after && c->pending == 0)
                break; /* answered: the server closes first (FIN, TIME_WAIT here) */
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        break; /* EOF or error (RST from crr clients) */
    }
    close(c->fd);
    free(c);
    return 1;
}

static int server(int port, int nports)
{
    static char buf[65536];
    static char reply[MSG];
    uint64_t udp_count = 0;
    int one = 1;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    if (nports < 1 || nports > MAX_PORTS)
        nports = 1;
    for (int i = 0; i < nports; i++) {
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (lfd < 0)
            die("socket");
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = make_addr("0.0.0.0", port + i);
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die("bind tcp");
        if (listen(lfd, 4096) < 0)
            die("listen");
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)lfd << 1};
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    }
    int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (ufd < 0)
        die("socket udp");
    int rcvbuf = 4 << 20;
    setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in usa = make_addr("0.0.0.0", port);
    if (bind(ufd, (struct sockaddr *)&usa, sizeof(usa)) < 0)
        die("bind udp");
    struct epoll_event uev = {.events = EPOLLIN, .data.u64 = ((uint64_t)ufd << 1)};
    epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &uev);
    memset(reply, 'r', sizeof(reply));
    fprintf(stderr, "loadgen server ready on %d (+%d)\n", port, nports - 1);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag & 1) { /* established TCP connection: tag = conn pointer | 1 */
                serve_conn((struct conn *)(uintptr_t)(tag & ~1ull), buf, sizeof(buf), reply);
                continue;
            }
            int fd = (int)(tag >> 1);
            if (fd == ufd) {
                serve_udp(ufd, &udp_count);
                continue;
            }
            for (;;) { /* a listener */
                struct sockaddr_in peer;
                socklen_t plen = sizeof(peer);
                int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK);
                if (cfd < 0)
                    break;
                count_peer(peer.sin_addr.s_addr);
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                struct conn *c = calloc(1, sizeof(*c));
                if (!c)
                    die("calloc");
                c->fd = cfd;
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)c | 1};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0) {
                    close(cfd);
                    free(c);
                }
            }
        }
    }
    return 0;
}

/* ---------------- latency samples ---------------- */

static uint32_t *samples;
static size_t nsamples;

static void record(uint64_t ns)
{
    if (nsamples < MAX_SAMPLES)
        samples[nsamples++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(double p)
{
    if (nsamples == 0)
        return -1;
    size_t idx = (size_t)(p * (double)(nsamples - 1));
    return samples[idx] / 1000.0;
}

/* ---------------- rr / crr clients ---------------- */

struct opts {
    struct sockaddr_in dsts[MAX_ADDRS];
    int ndst;
    struct sockaddr_in srcs[MAX_ADDRS];
    int nsrc;
    double interval;
    int server_close;
};

enum slot_state { CONNECTING, WAITING, DRAINING };

struct slot {
    int fd;
    enum slot_state state;
    unsigned got;
    uint64_t start;
};

struct client {
    const struct opts *o;
    int ep;
    int crr;
    unsigned next_dst, next_src;
    uint64_t started;
};

static void slot_open(struct client *cl, struct slot *s)
{
    int one = 1;
    const struct opts *o = cl->o;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        die("socket");
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cl->crr && !o->server_close) { /* close with RST: no TIME_WAIT, client ports recycle */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (o->nsrc) { /* the port is chosen at connect() time, per 4-tuple */
        setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        const struct sockaddr_in *src = &o->srcs[cl->next_src++ % (unsigned)o->nsrc];
        if (bind(s->fd, (const struct sockaddr *)src, sizeof(*src)) < 0)
            die("bind source address");
    }
    const struct sockaddr_in *dst = &o->dsts[cl->next_dst++ % (unsigned)o->ndst];
    s->got = 0;
    s->start = now_ns();
    cl->started++;
    int r = connect(s->fd, (const struct sockaddr *)dst, sizeof(*dst));
    if (r < 0 && errno != EINPROGRESS)
        die("connect");
    s->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = s};
    if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        die("epoll_ctl");
}

static int send_req(struct slot *s, int close_req)
{
    static char req[MSG] = {'q'};
    static char close_msg[MSG];
    if (close_req && close_msg[0] != 'C')
        memset(close_msg, 'C', sizeof(close_msg));
    return write(s->fd, close_req ? close_msg : req, MSG) == MSG ? 0 : -1;
}

static void slot_close(struct slot *s)
{
    close(s->fd);
    s->fd = -1;
}

static int tcp_client(const char *mode, int port, double secs, int conc, const struct opts *o)
{
    int crr = strcmp(mode, "crr") == 0;
    struct client cl = {.o = o, .ep = epoll_create1(0), .crr = crr};
    struct slot *slots = calloc((size_t)conc, sizeof(*slots));
    samples = malloc(MAX_SAMPLES * sizeof(uint32_t));
    static uint64_t per_interval[MAX_INTERVALS];
    if (!slots || !samples || cl.ep < 0)
        die("alloc");
    (void)port;
    uint64_t ops = 0, errors = 0;
    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)(secs * 1e9);
    uint64_t hard_end = end + GRACE_NS;
    uint64_t interval_ns = o->interval > 0 ? (uint64_t)(o->interval * 1e9) : 0;
    for (int i = 0; i < conc; i++)
        slot_open(&cl, &slots[i]);
    struct epoll_event events[MAX_EVENTS];
    char buf[4096];
    int active = conc;
    while (active > 0) {
        if (now_ns() > hard_end)
            break;
        int n = epoll_wait(cl.ep, events, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            struct slot *s = events[i].data.ptr;
            if (s->fd < 0)
                continue;
            if (s->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || !(events[i].events & EPOLLOUT))
                    goto fail;
                s->state = WAITING;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
                epoll_ctl(cl.ep, EPOLL_CTL_MOD, s->fd, &ev);
                if (!crr)
                    s->start = now_ns(); /* rr: latency excludes the handshake */
                if (send_req(s, crr && o->server_close) < 0)
                    goto fail;
                continue;
            }
            ssize_t r = read(s->fd, buf, sizeof(buf));
            if (s->state == DRAINING) { /* waiting for the server's FIN */
                if (r < 0 && errno == EAGAIN)
                    continue;
                slot_close(s);
                goto next;
            }
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                goto fail;
            }
            s->got += (unsigned)r;
            if (s->got < MSG)
                continue;
            uint64_t done = now_ns();
            ops++;
            record(done - s->start);
            if (interval_ns && (done - t0) / interval_ns < MAX_INTERVALS)
                per_interval[(done - t0) / interval_ns]++;
            if (crr && o->server_close) {
                s->state = DRAINING;
                continue;
            }
            if (crr) {
                slot_close(s);
                goto next;
            }
            if (done >= end) {
                slot_close(s);
                active--;
                continue;
            }
            s->got = 0;
            s->start = done;
            if (send_req(s, 0) < 0)
                goto fail;
            continue;
        fail:
            errors++;
            slot_close(s);
        next:
            if (now_ns() < end && errors < 100000)
                slot_open(&cl, s);
            else
                active--;
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double measured = elapsed < secs ? elapsed : secs;
    qsort(samples, nsamples, sizeof(uint32_t), cmp_u32);
    printf("{\"mode\":\"%s\",\"ops\":%llu,\"errors\":%llu,\"started\":%llu,\"seconds\":%.4f,"
           "\"rate\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"interval_s\":%.3f,\"intervals\":[",
           mode, (unsigned long long)ops, (unsigned long long)errors,
           (unsigned long long)cl.started, measured, ops / measured, pct_us(0.50), pct_us(0.99),
           o->interval);
    if (interval_ns) {
        uint64_t full = (uint64_t)(secs * 1e9) / interval_ns;
        for (uint64_t k = 0; k < full && k < MAX_INTERVALS; k++)
            printf("%s%llu", k ? "," : "", (unsigned long long)per_interval[k]);
    }
    printf("]}\n");
    return 0;
}

static int parse_opts(int argc, char **argv, const char *host, int port, struct opts *o)
{
    int ndst = 1;
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            o->server_close = 1;
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            ndst = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            o->interval = atof(argv[++i]);
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            char spec[64];
            snprintf(spec, sizeof(spec), "%s", argv[++i]);
            char *slash = strchr(spec, '/');
            o->nsrc = slash ? atoi(slash + 1) : 1;
            if (slash)
                *slash = 0;
            if (o->nsrc < 1 || o->nsrc > MAX_ADDRS)
                return -1;
            addr_range(o->srcs, o->nsrc, make_addr(spec, 0));
        } else {
            return -1;
        }
    }
    if (ndst < 1 || ndst > MAX_ADDRS)
        return -1;
    o->ndst = ndst;
    addr_range(o->dsts, ndst, make_addr(host, port));
    return 0;
}

/* ---------------- udp flood and control queries ---------------- */

static int udp_ask(int fd, const char *q, char *out, size_t outlen)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int attempt = 0; attempt < 20; attempt++) {
        if (send(fd, q, 4, 0) != 4)
            die("send");
        ssize_t r = recv(fd, out, outlen - 1, 0);
        if (r < 0)
            continue; /* timeout: ask again */
        out[r] = 0;
        return 0;
    }
    return -1;
}

static int udp_socket(const char *host, int port)
{
    struct sockaddr_in dst = make_addr(host, port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        die("connect");
    return fd;
}

static int udp_client(const char *host, int port, double secs, int size)
{
    int fd = udp_socket(host, port);
    char answer[64];
    if (udp_ask(fd, "RST?", answer, sizeof(answer)) < 0) {
        fprintf(stderr, "udp server did not answer\n");
        return 3;
    }
    if (size < 8)
        size = 8;
    if (size > 1400)
        size = 1400;
    static char payload[1400];
    memset(payload, 'u', sizeof(payload));
    struct mmsghdr msgs[32];
    struct iovec iov = {.iov_base = payload, .iov_len = (size_t)size};
    for (int k = 0; k < 32; k++) {
        memset(&msgs[k], 0, sizeof(msgs[k]));
        msgs[k].msg_hdr.msg_iov = &iov;
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    uint64_t sent = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        int r = sendmmsg(fd, msgs, 32, 0);
        if (r > 0)
            sent += (uint64_t)r;
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    usleep(200000); /* let the receiver drain its queue */
    if (udp_ask(fd, "CNT?", answer, sizeof(answer)) < 0) {
        fprintf(stderr, "udp server did not answer the count\n");
        return 3;
    }
    unsigned long long received = strtoull(answer, NULL, 10);
    printf("{\"mode\":\"udp\",\"sent\":%llu,\"received\":%llu,\"seconds\":%.4f,\"rate\":%.1f}\n",
           (unsigned long long)sent, received, elapsed, received / elapsed);
    return 0;
}

static int peers_client(const char *host, int port)
{
    static char answer[8192];
    int fd = udp_socket(host, port);
    if (udp_ask(fd, "PEER", answer, sizeof(answer)) < 0) {
        fprintf(stderr, "server did not answer PEER\n");
        return 3;
    }
    printf("%s\n", answer);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && strcmp(argv[1], "server") == 0)
        return server(atoi(argv[2]), argc >= 4 ? atoi(argv[3]) : 1);
    if (argc >= 6 && (strcmp(argv[1], "rr") == 0 || strcmp(argv[1], "crr") == 0)) {
        static struct opts o;
        if (parse_opts(argc - 6, argv + 6, argv[2], atoi(argv[3]), &o) == 0)
            return tcp_client(argv[1], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), &o);
    }
    if (argc == 6 && strcmp(argv[1], "udp") == 0)
        return udp_client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
    if (argc == 4 && strcmp(argv[1], "peers") == 0)
        return peers_client(argv[2], atoi(argv[3]));
    fprintf(stderr,
            "usage: loadgen server PORT [NPORTS] | rr|crr HOST PORT SECONDS CONC [-s ADDR/N]"
            " [-d N] [-i SECS] [-c] | udp HOST PORT SECONDS SIZE | peers HOST PORT\n");
    return 2;
}
