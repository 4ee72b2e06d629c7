/* forward.c - io forwarding between two ports, as DPDK testpmd's io mode: what one port
 * receives leaves by the other, unchanged. With the two ports cabled to each other,
 * `window` frames primed on each keep circulating (a -> b's wire -> b -> out of a ...),
 * and the figure is frames forwarded per second over a measured window after a warm-up.
 * Each port has DMA memory of its own, so a frame is copied once, from the RX buffer into
 * the TX buffer it leaves from (testpmd hands the mbuf itself over). Frames that are not
 * ours, or arrive with descriptor errors, are counted and not sent on. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "internal.h"
#include "regs.h"

#define FWD_BURST 32
#define FWD_WINDOW_MAX 1024   /* frames primed per port: well inside every driver's ring */

/* One burst on its way from one port to the other. Each accepted frame is copied once,
 * straight into the TX buffer of the slot the sending port fills next (drivers fill their
 * TX ring in order, from tx->next): the send then only writes descriptors. */
struct fwd_stage {
    struct pmd_port *to;
    uint8_t *slot[FWD_BURST];
    uint32_t len[FWD_BURST];
    uint32_t n, next, room;
    int misordered;
    struct pmd_forward_result *r;
};

static void stage_recv(void *opaque, const uint8_t *d, uint32_t len, uint8_t errors)
{
    struct fwd_stage *s = opaque;
    uint64_t seq;
    uint16_t kind;
    if (errors) {
        s->r->desc_errors++;
        return;
    }
    if (len > PMD_BUF_SIZE || frame_check_as(d, len, &seq, &kind, 0) != FRAME_GOOD) {
        s->r->foreign++;
        return;
    }
    if (s->n == s->room) { /* no free TX descriptor: lost here, as testpmd drops */
        s->r->dropped++;
        return;
    }
    struct pmd_ring_state *tx = &s->to->tx;
    uint8_t *slot = tx->buf[(tx->next + s->n) & (tx->size - 1)];
    memcpy(slot, d, len);
    s->slot[s->n] = slot;
    s->len[s->n++] = len;
}

static uint32_t stage_fill(void *opaque, uint8_t *buf, uint32_t capacity)
{
    struct fwd_stage *s = opaque;
    if (s->next == s->n || capacity < s->len[s->next])
        return 0;
    if (buf != s->slot[s->next]) { /* the frame is in another slot: stop rather than send the wrong bytes */
        s->misordered = 1;
        return 0;
    }
    return s->len[s->next++];
}

/* One burst received on `from` and sent out of `to`; frames sent on, or -errno. */
static int forward_burst(struct pmd_port *from, struct pmd_port *to, struct fwd_stage *s)
{
    int in_flight = to->ops->tx_clean(to);
    if (in_flight < 0)
        return in_flight;
    uint32_t free_slots = to->tx.size - 1 - (uint32_t)in_flight;
    s->to = to;
    s->n = s->next = 0;
    s->room = free_slots < FWD_BURST ? free_slots : FWD_BURST;
    int m = from->ops->rx_burst(from, FWD_BURST, stage_recv, s);
    if (m < 0)
        return m;
    if (s->n == 0)
        return 0;
    int sent = to->ops->tx_burst(to, s->n, stage_fill, s);
    if (sent < 0)
        return sent;
    if (s->misordered)
        return pmd_fail(EPROTO, "the %s driver did not fill its TX ring in order (io forwarding copies each "
                                "frame into the slot it sends from)", to->ops->name);
    s->r->dropped += s->n - (uint32_t)sent;
    return sent;
}

/* Queue `window` frames on `port` addressed to `to`; -errno, or -ETIMEDOUT if the ring stays full. */
static int prime(struct pmd_port *port, struct pmd_port *to, uint32_t size, uint32_t window, uint64_t seq,
                 uint32_t timeout_ms)
{
    struct frame_source c = {.left = window};
    frame_gen_init(&c.gen, to->mac, port->mac, size, seq, FRAME_DATA);
    c.gen.payload = 0; /* header and sequence only: the frames are forwarded, never checked byte by byte */
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * MS;
    while (c.left) {
        int n = port->ops->tx_burst(port, c.left, frame_source_fill, &c);
        if (n < 0)
            return n;
        if (n == 0 && pmd_now_ns() > deadline)
            return pmd_fail(ETIMEDOUT, "could not queue %u frames to prime forwarding within %u ms (%u left)",
                            window, timeout_ms, (unsigned)c.left);
    }
    return 0;
}

static void count_recv(void *opaque, const uint8_t *d, uint32_t len, uint8_t errors)
{
    struct pmd_forward_result *r = opaque;
    uint64_t seq;
    uint16_t kind;
    if (errors)
        r->desc_errors++;
    else if (frame_check_as(d, len, &seq, &kind, 0) == FRAME_GOOD)
        r->drained++;
    else
        r->foreign++;
}

/* After forwarding: let what is queued go out and take in everything still on its way. */
static int drain(struct pmd_port *a, struct pmd_port *b, uint32_t timeout_ms, struct pmd_forward_result *r)
{
    uint64_t start = pmd_now_ns(), quiet_since = start;
    for (;;) {
        int in_flight = a->ops->tx_clean(a) + b->ops->tx_clean(b);
        int m = a->ops->rx_burst(a, FWD_BURST, count_recv, r);
        int n = m < 0 ? 0 : b->ops->rx_burst(b, FWD_BURST, count_recv, r);
        if (m < 0 || n < 0)
            return m < 0 ? m : n;
        uint64_t now = pmd_now_ns();
        if (m > 0 || n > 0 || in_flight > 0)
            quiet_since = now;
        else if (now - quiet_since >= DRAIN_QUIET_NS)
            return 0;
        if (now - start > (uint64_t)timeout_ms * MS)
            return pmd_fail(ETIMEDOUT, "frames kept arriving %u ms after forwarding stopped", timeout_ms);
    }
}

int pmd_forward(struct pmd_port *a, struct pmd_port *b, uint32_t size, uint32_t window, uint32_t warm_ms,
                uint32_t measure_ms, uint32_t timeout_ms, struct pmd_forward_result *r)
{
    int rc;
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if (!a || !a->started || !b || !b->started)
        return pmd_fail(ENOTCONN, "both ports must be open and started");
    if (a == b)
        return pmd_fail(EINVAL, "io forwarding needs two ports");
    if ((rc = frame_size_ok(size)) < 0)
        return rc;
    if (window == 0 || window > FWD_WINDOW_MAX)
        return pmd_fail(EINVAL, "window %u: 1..%d frames primed per port", window, FWD_WINDOW_MAX);
    struct fwd_stage *s = malloc(sizeof *s);
    if (!s)
        return pmd_fail(ENOMEM, "out of memory for the forwarding stage");
    s->r = r;
    s->misordered = 0;
    if ((rc = prime(a, b, size, window, 0, timeout_ms)) < 0 || (rc = prime(b, a, size, window, window, timeout_ms)) < 0)
        goto out;
    r->primed = 2ull * window;
    uint64_t start = pmd_now_ns(), progress = start, t0 = 0, now = start;
    uint64_t measure_from = start + (uint64_t)warm_ms * MS, limit = (uint64_t)timeout_ms * MS;
    for (;;) {
        if ((rc = pmd_port_check_interrupt(a)) < 0 || (rc = pmd_port_check_interrupt(b)) < 0)
            goto out;
        int fa = forward_burst(a, b, s);
        int fb = fa < 0 ? 0 : forward_burst(b, a, s);
        if (fa < 0 || fb < 0) {
            rc = fa < 0 ? fa : fb;
            goto out;
        }
        now = pmd_now_ns(); /* no tx_clean here: forward_burst cleans the ring it is about to fill */
        if (fa + fb > 0)
            progress = now;
        if (now >= measure_from) {
            if (!t0)
                t0 = now; /* the window starts with the next burst */
            else
                r->forwarded += (uint64_t)(fa + fb);
            if (now - t0 >= (uint64_t)measure_ms * MS)
                break;
        }
        if (now - progress > limit) {
            rc = pmd_fail(ETIMEDOUT, "nothing came back for %u ms (%llu frames forwarded, %llu dropped): is the "
                                     "cable between the two ports up?", timeout_ms,
                          (unsigned long long)r->forwarded, (unsigned long long)r->dropped);
            goto out;
        }
    }
    r->ns = now - t0;
    rc = drain(a, b, timeout_ms, r);
out:
    free(s);
    return rc;
}
