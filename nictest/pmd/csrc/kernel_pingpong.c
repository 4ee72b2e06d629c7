/* kernel_pingpong.c - round trips through the kernel path with the PMD's
 * frames: AF_PACKET on netdev A sends a ping, AF_PACKET on netdev B (in its
 * own network namespace, so nothing short-cuts through the local stack)
 * answers with a pong. One thread drives both sockets, as pmd_pingpong drives
 * both ports, so the two figures compare like for like. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "regs.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* linux/if_packet.h, kernel >= 4.20 */
#endif

/* Open B's socket inside `netns` (NULL or "": this namespace). */
static int open_in(const char *ifname, const char *netns, int *fd, uint8_t mac[6])
{
    int saved, rc;
    if (!netns || !netns[0])
        return pmd_afpacket_open(ifname, fd, mac);
    if ((rc = pmd_netns_enter(netns, &saved)) < 0)
        return rc;
    rc = pmd_afpacket_open(ifname, fd, mac);
    char why[512];
    snprintf(why, sizeof why, "%s", pmd_last_error());
    int back = pmd_netns_leave(saved);
    if (rc == 0 && back < 0) {
        close(*fd);
        return back;
    }
    if (rc < 0)
        pmd_fail(-rc, "%s (in netns %s)", why, netns);
    return rc;
}

static void quiet(int fd)
{
    int one = 1;
    /* Our own transmissions would be looped back to this socket: skip them. */
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    uint8_t buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ; /* stale frames from before this call */
}

static int send_frame(int fd, const uint8_t *dst, const uint8_t *src, uint32_t size, uint64_t seq, uint16_t kind)
{
    uint8_t buf[PMD_FRAME_MAX];
    struct frame_gen g;
    frame_gen_init(&g, dst, src, size, seq, kind);
    frame_write(&g, buf);
    ssize_t n = send(fd, buf, size, 0);
    if (n == (ssize_t)size)
        return 0;
    return n < 0 ? -errno : -EIO;
}

/* Wait for our frame (seq, kind) on fd until deadline: 1 seen, 0 timeout, -errno. *bad set on a bad copy. */
static int wait_frame(int fd, uint64_t want_seq, uint16_t want_kind, uint64_t deadline, int *bad)
{
    uint8_t buf[2048];
    for (;;) {
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            uint64_t seq;
            uint16_t kind;
            int v = frame_check(buf, (uint32_t)n, &seq, &kind);
            if (v == FRAME_FOREIGN || kind != want_kind || seq != want_seq)
                continue;
            *bad |= v == FRAME_BAD;
            return 1;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        uint64_t now = pmd_now_ns();
        if (now >= deadline)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, (int)((deadline - now) / MS) + 1);
    }
}

int pmd_kernel_pingpong(const char *if_a, const char *if_b, const char *netns_b, uint64_t count, uint32_t size,
                        uint32_t timeout_ms, uint64_t *rtt_ns, struct pmd_pingpong_result *r)
{
    int fa = -1, fb = -1, rc;
    uint8_t mac_a[6], mac_b[6];
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = frame_size_ok(size)) < 0 || (rc = pmd_afpacket_open(if_a, &fa, mac_a)) < 0)
        return rc;
    if ((rc = open_in(if_b, netns_b, &fb, mac_b)) < 0) {
        close(fa);
        return rc;
    }
    quiet(fa);
    quiet(fb);
    r->min_ns = UINT64_MAX;
    for (uint64_t seq = 0; seq < count && rc == 0; seq++) {
        uint64_t t0 = pmd_now_ns(), deadline = t0 + (uint64_t)timeout_ms * MS;
        int bad = 0, got;
        if ((rc = send_frame(fa, mac_b, mac_a, size, seq, FRAME_PING)) < 0) {
            pmd_fail(-rc, "ping %llu: send on %s: %s", (unsigned long long)seq, if_a, strerror(-rc));
            break;
        }
        r->sent++;
        if ((got = wait_frame(fb, seq, FRAME_PING, deadline, &bad)) <= 0) {
            rc = got < 0 ? pmd_fail(-got, "recv on %s: %s", if_b, strerror(-got)) : 0;
            continue; /* lost: the next ping starts afresh */
        }
        if ((rc = send_frame(fb, mac_a, mac_b, size, seq, FRAME_PONG)) < 0) {
            pmd_fail(-rc, "pong %llu: send on %s: %s", (unsigned long long)seq, if_b, strerror(-rc));
            break;
        }
        if ((got = wait_frame(fa, seq, FRAME_PONG, deadline, &bad)) <= 0) {
            rc = got < 0 ? pmd_fail(-got, "recv on %s: %s", if_a, strerror(-got)) : 0;
            continue;
        }
        pmd_rtt_add(r, pmd_now_ns() - t0, rtt_ns, bad);
    }
    if (r->answered == 0)
        r->min_ns = 0;
    close(fa);
    close(fb);
    return rc < 0 ? rc : 0;
}
