/* afpacket.c - the kernel path with the same frames: an AF_PACKET socket on
 * a netdev, so PMD and kernel numbers compare like for like. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "internal.h"
#include "regs.h"


int pmd_afpacket_open(const char *ifname, int *fd, uint8_t mac[6])
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (!ifname || strlen(ifname) >= sizeof ifr.ifr_name)
        return pmd_fail(EINVAL, "bad interface name");
    *fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(PMD_ETHERTYPE));
    if (*fd < 0) {
        int err = errno;
        return pmd_fail(err, "AF_PACKET socket: %s (needs CAP_NET_RAW)", strerror(err));
    }
    strcpy(ifr.ifr_name, ifname);
    if (ioctl(*fd, SIOCGIFINDEX, &ifr) < 0) {
        int err = errno;
        close(*fd);
        return pmd_fail(err, "no interface %s: %s", ifname, strerror(err));
    }
    int ifindex = ifr.ifr_ifindex;
    if (ioctl(*fd, SIOCGIFHWADDR, &ifr) < 0) {
        int err = errno;
        close(*fd);
        return pmd_fail(err, "SIOCGIFHWADDR %s: %s", ifname, strerror(err));
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(PMD_ETHERTYPE),
                              .sll_ifindex = ifindex};
    if (bind(*fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        int err = errno;
        close(*fd);
        return pmd_fail(err, "bind AF_PACKET to %s: %s", ifname, strerror(err));
    }
    return 0;
}

int pmd_kernel_tx_loop(const char *ifname, uint64_t count, uint32_t size, uint64_t seq_start,
                       const uint8_t *dst_mac, uint32_t timeout_ms, struct pmd_tx_result *r)
{
    int fd, rc;
    uint8_t mac[6], buf[PMD_FRAME_MAX];
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = frame_size_ok(size)) < 0 || (rc = pmd_afpacket_open(ifname, &fd, mac)) < 0)
        return rc;
    struct frame_gen g;
    frame_gen_init(&g, dst_mac, mac, size, seq_start, FRAME_DATA);
    uint64_t start = pmd_now_ns(), progress = start;
    while (r->packets < count) {
        frame_write(&g, buf);
        ssize_t n = send(fd, buf, size, 0);
        uint64_t now = pmd_now_ns();
        if (n == (ssize_t)size) {
            r->packets++;
            progress = now;
            continue;
        }
        g.seq--; /* send this sequence number again */
        if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
            int err = errno;
            close(fd);
            return pmd_fail(err, "send on %s: %s", ifname, strerror(err));
        }
        r->ring_full++;
        if (now - progress > (uint64_t)timeout_ms * MS) {
            close(fd);
            return pmd_fail(ETIMEDOUT, "AF_PACKET send on %s stalled for %u ms", ifname, timeout_ms);
        }
    }
    close(fd);
    r->ns = pmd_now_ns() - start;
    r->bytes = r->packets * size;
    r->next_seq = g.seq;
    return 0;
}

int pmd_kernel_rx_loop(const char *ifname, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                       struct pmd_rx_result *r)
{
    return pmd_kernel_rx_idle_loop(ifname, count, expect_seq, timeout_ms, 0, r);
}

int pmd_kernel_rx_idle_loop(const char *ifname, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                            uint32_t idle_ms, struct pmd_rx_result *r)
{
    int fd, rc;
    uint8_t mac[6], buf[2048];
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = pmd_afpacket_open(ifname, &fd, mac)) < 0)
        return rc;
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct rx_acc acc;
    rx_acc_init(&acc, r, expect_seq);
    uint64_t start = pmd_now_ns(), deadline = start + (uint64_t)timeout_ms * MS;
    while (r->packets < count) {
        uint64_t now = pmd_now_ns();
        if (now >= deadline) {
            r->timed_out = 1;
            break;
        }
        /* Once frames flow, a pause of idle_ms means the sender is done (the rest was dropped). */
        if (idle_ms && r->packets && now - acc.last_ns > (uint64_t)idle_ms * MS)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left_ms = (int)((deadline - now) / MS) + 1;
        if (idle_ms && left_ms > (int)idle_ms)
            left_ms = (int)idle_ms;
        if (poll(&pfd, 1, left_ms) <= 0)
            continue;
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0 && r->packets < count)
            rx_acc_frame(&acc, buf, (uint32_t)n, 0);
        rx_acc_stamp(&acc, now, pmd_now_ns());
    }
    close(fd);
    rx_acc_finish(&acc, start);
    return 0;
}
