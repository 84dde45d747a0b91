// Hawser benchmark load generator and server (built by bench/build.py at run time).
//
//   loadgen server PORT [NPORTS]        TCP on PORT..PORT+NPORTS-1 and UDP on PORT, all addresses.
//                                       TCP: answers MSG bytes for every MSG bytes read.
//                                       UDP: counts datagrams; "RST?" zeroes the count and answers
//                                       "OK", "CNT?" answers the count as decimal text.
//   loadgen rr   HOST PORT SECONDS CONC   CONC persistent connections, closed loop request/response
//   loadgen crr  HOST PORT SECONDS CONC   CONC slots: connect, request, response, close (RST)
//   loadgen udp  HOST PORT SECONDS SIZE   flood SIZE-byte datagrams, then ask the server its count
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
#define MAX_SAMPLES (1u << 24)

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static struct sockaddr_in make_addr(const char *host, int port) {
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

/* ---------------- server ---------------- */

struct conn {
    int fd;
    unsigned pending; /* request bytes read but not yet answered */
};

static int server(int port, int nports) {
    static char buf[65536];
    static char reply[MSG];
    uint64_t udp_count = 0;
    int one = 1;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    if (nports < 1 || nports > MAX_PORTS)
        nports = 1;
    int listeners[MAX_PORTS];
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
        listeners[i] = lfd;
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
                struct conn *c = (struct conn *)(uintptr_t)(tag & ~1ull);
                for (;;) {
                    ssize_t r = read(c->fd, buf, sizeof(buf));
                    if (r > 0) {
                        c->pending += (unsigned)r;
                        while (c->pending >= MSG) {
                            if (write(c->fd, reply, MSG) != MSG)
                                break;
                            c->pending -= MSG;
                        }
                        continue;
                    }
                    if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    close(c->fd); /* EOF or error (RST from crr clients) */
                    free(c);
                    break;
                }
                continue;
            }
            int fd = (int)(tag >> 1);
            if (fd == ufd) {
                struct mmsghdr msgs[64];
                struct iovec iov[64];
                struct sockaddr_in from[64];
                static char ubuf[64][2048];
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
                        break;
                    for (int k = 0; k < got; k++) {
                        if (msgs[k].msg_len == 4 && memcmp(ubuf[k], "RST?", 4) == 0) {
                            udp_count = 0;
                            sendto(ufd, "OK", 2, 0, (struct sockaddr *)&from[k],
                                   msgs[k].msg_hdr.msg_namelen);
                        } else if (msgs[k].msg_len == 4 && memcmp(ubuf[k], "CNT?", 4) == 0) {
                            char out[32];
                            int len = snprintf(out, sizeof(out), "%llu",
                                               (unsigned long long)udp_count);
                            sendto(ufd, out, (size_t)len, 0, (struct sockaddr *)&from[k],
                                   msgs[k].msg_hdr.msg_namelen);
                        } else {
                            udp_count++;
                        }
                    }
                }
                continue;
            }
            for (;;) { /* a listener */
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
                if (cfd < 0)
                    break;
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
    (void)listeners;
    return 0;
}

/* ---------------- latency samples ---------------- */

static uint32_t *samples;
static size_t nsamples;

static void record(uint64_t ns) {
    if (nsamples < MAX_SAMPLES)
        samples[nsamples++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(double p) {
    if (nsamples == 0)
        return -1;
    size_t idx = (size_t)(p * (double)(nsamples - 1));
    return samples[idx] / 1000.0;
}

static void print_result(const char *mode, uint64_t ops, uint64_t errors, double secs) {
    qsort(samples, nsamples, sizeof(uint32_t), cmp_u32);
    printf("{\"mode\":\"%s\",\"ops\":%llu,\"errors\":%llu,\"seconds\":%.4f,\"rate\":%.1f,"
           "\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
           mode, (unsigned long long)ops, (unsigned long long)errors, secs, ops / secs,
           pct_us(0.50), pct_us(0.99));
}

/* ---------------- rr / crr clients ---------------- */

struct slot {
    int fd;
    int connecting;
    unsigned got;
    uint64_t start;
};

static void slot_open(int ep, struct slot *s, const struct sockaddr_in *dst, int crr) {
    int one = 1;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        die("socket");
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (crr) { /* close with RST: no TIME_WAIT, so client ports recycle at once */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    s->got = 0;
    s->start = now_ns();
    int r = connect(s->fd, (const struct sockaddr *)dst, sizeof(*dst));
    if (r < 0 && errno != EINPROGRESS)
        die("connect");
    s->connecting = 1;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = s};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        die("epoll_ctl");
}

static int send_req(struct slot *s) {
    static const char req[MSG] = {'q'};
    return write(s->fd, req, MSG) == MSG ? 0 : -1;
}

static int tcp_client(const char *host, int port, double secs, int conc, int crr) {
    struct sockaddr_in dst = make_addr(host, port);
    int ep = epoll_create1(0);
    struct slot *slots = calloc((size_t)conc, sizeof(*slots));
    samples = malloc(MAX_SAMPLES * sizeof(uint32_t));
    if (!slots || !samples || ep < 0)
        die("alloc");
    uint64_t ops = 0, errors = 0;
    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)(secs * 1e9);
    uint64_t hard_end = end + 2000000000ull;
    for (int i = 0; i < conc; i++)
        slot_open(ep, &slots[i], &dst, crr);
    struct epoll_event events[MAX_EVENTS];
    char buf[4096];
    int active = conc;
    while (active > 0) {
        uint64_t t = now_ns();
        if (t > hard_end)
            break;
        int n = epoll_wait(ep, events, MAX_EVENTS, 100);
        for (int i = 0; i < n; i++) {
            struct slot *s = events[i].data.ptr;
            if (s->connecting) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || !(events[i].events & EPOLLOUT))
                    goto fail;
                s->connecting = 0;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
                if (!crr)
                    s->start = now_ns(); /* rr: latency excludes the handshake */
                if (send_req(s) < 0)
                    goto fail;
                continue;
            }
            ssize_t r = read(s->fd, buf, sizeof(buf));
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
            if (done >= end) {
                close(s->fd);
                s->fd = -1;
                active--;
                continue;
            }
            if (crr) {
                close(s->fd);
                slot_open(ep, s, &dst, 1);
            } else {
                s->got = 0;
                s->start = done;
                if (send_req(s) < 0)
                    goto fail;
            }
            continue;
        fail:
            errors++;
            close(s->fd);
            s->fd = -1;
            if (now_ns() < end && errors < 100000) {
                slot_open(ep, s, &dst, crr);
            } else {
                active--;
            }
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    print_result(crr ? "crr" : "rr", ops, errors, elapsed < secs ? elapsed : secs);
    return 0;
}

/* ---------------- udp flood ---------------- */

static int udp_ask(int fd, const char *q, char *out, size_t outlen) {
    for (int attempt = 0; attempt < 20; attempt++) {
        if (send(fd, q, 4, 0) != 4)
            die("send");
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        for (;;) {
            ssize_t r = recv(fd, out, outlen - 1, 0);
            if (r < 0)
                break; /* timeout: ask again */
            out[r] = 0;
            return 0;
        }
    }
    return -1;
}

static int udp_client(const char *host, int port, double secs, int size) {
    struct sockaddr_in dst = make_addr(host, port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        die("connect");
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

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && strcmp(argv[1], "server") == 0)
        return server(atoi(argv[2]), argc >= 4 ? atoi(argv[3]) : 1);
    if (argc == 6 && (strcmp(argv[1], "rr") == 0 || strcmp(argv[1], "crr") == 0))
        return tcp_client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]),
                          strcmp(argv[1], "crr") == 0);
    if (argc == 6 && strcmp(argv[1], "udp") == 0)
        return udp_client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: loadgen server PORT [NPORTS] | rr|crr HOST PORT SECONDS CONC |"
                    " udp HOST PORT SECONDS SIZE\n");
    return 2;
}
