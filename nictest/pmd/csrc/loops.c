/* loops.c - the packet loops: all per-packet work happens here, in C.
 * Every loop is bounded by timeout_ms without progress (tx) or in total (rx). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "internal.h"
#include "regs.h"

#define BURST 32

static void rx_recv(void *opaque, const uint8_t *data, uint32_t len, uint8_t errors)
{
    rx_acc_frame(opaque, data, len, errors);
}

static int port_ok(struct pmd_port *port)
{
    if (!port || !port->started)
        return pmd_fail(ENOTCONN, "port is not open and started");
    return 0;
}

/* Queue up to `max` frames (rate-limited), returns queued or -errno. */
static int tx_step(struct pmd_port *port, struct frame_source *c, uint64_t start, uint64_t queued, uint64_t rate_pps,
                   struct pmd_tx_result *r)
{
    uint32_t max = BURST;
    if (rate_pps) {
        uint64_t allowed = (pmd_now_ns() - start) * rate_pps / 1000000000ull + 1;
        if (allowed <= queued)
            return 0;
        if (allowed - queued < max)
            max = (uint32_t)(allowed - queued);
    }
    int n = port->ops->tx_burst(port, max, frame_source_fill, c);
    if (n == 0 && c->left)
        r->ring_full++;
    return n;
}

/* Frames over one buffer: each built once in a scratch buffer and queued by the
 * driver's tx_chain across descriptors (not rate-limited: the feature suites send
 * few of them). */
static int tx_loop_chained(struct pmd_port *port, uint64_t count, uint32_t size, uint64_t seq_start,
                           const uint8_t *dst_mac, uint32_t timeout_ms, struct pmd_tx_result *r)
{
    if (!port->ops->tx_chain)
        return pmd_fail(ENOTSUP, "the %s driver sends frames of at most %d bytes", port->ops->name, PMD_BUF_SIZE);
    uint8_t *frame = malloc(size);
    if (!frame)
        return pmd_fail(ENOMEM, "out of memory for a %u-byte frame", size);
    struct frame_gen gen;
    frame_gen_init(&gen, dst_mac, port->mac, size, seq_start, FRAME_DATA);
    uint64_t start = pmd_now_ns(), progress = start, queued = 0, limit = (uint64_t)timeout_ms * MS;
    int built = 0, rc = 0, in_flight = 0;
    for (;;) {
        if (queued < count && !built) {
            frame_write(&gen, frame);
            built = 1;
        }
        if (built) {
            int n = port->ops->tx_chain(port, frame, size);
            if (n < 0) {
                rc = n;
                break;
            }
            if (n > 0) {
                queued++;
                built = 0;
                progress = pmd_now_ns();
            } else {
                r->ring_full++;
            }
        }
        int before = in_flight;
        in_flight = port->ops->tx_clean(port);
        uint64_t now = pmd_now_ns();
        if (in_flight < before)
            progress = now;
        if (queued == count && in_flight == 0)
            break;
        if (now - progress > limit) {
            rc = pmd_fail(ETIMEDOUT, "TX stalled for %u ms: %llu of %llu frames of %u bytes queued, %d descriptors "
                                     "not completed", timeout_ms, (unsigned long long)queued,
                          (unsigned long long)count, size, in_flight);
            break;
        }
    }
    uint32_t per = (size + PMD_BUF_SIZE - 1) / PMD_BUF_SIZE;
    uint64_t pending = ((uint64_t)in_flight + per - 1) / per;
    r->packets = queued > pending ? queued - pending : 0;
    r->ns = pmd_now_ns() - start;
    r->bytes = r->packets * size;
    r->next_seq = seq_start + queued;
    free(frame);
    return rc;
}

int pmd_tx_loop(struct pmd_port *port, uint64_t count, uint32_t size, uint64_t seq_start, const uint8_t *dst_mac,
                uint64_t rate_pps, uint32_t timeout_ms, struct pmd_tx_result *r)
{
    int rc;
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = port_ok(port)) < 0)
        return rc;
    if (size > PMD_FRAME_MAX && size <= PMD_FRAME_JUMBO_MAX)
        return tx_loop_chained(port, count, size, seq_start, dst_mac, timeout_ms, r);
    if ((rc = frame_size_ok(size)) < 0)
        return pmd_fail(EINVAL, "frame size %u: must be %d..%d bytes (without FCS)", size, PMD_FRAME_MIN,
                        PMD_FRAME_JUMBO_MAX);
    struct frame_source c = {.left = count};
    frame_gen_init(&c.gen, dst_mac, port->mac, size, seq_start, FRAME_DATA);
    uint64_t start = pmd_now_ns(), progress = start, queued = 0;
    uint64_t limit = (uint64_t)timeout_ms * MS;
    int in_flight = 0;
    for (;;) {
        if ((rc = pmd_port_check_interrupt(port)) < 0)
            return rc;
        int n = c.left ? tx_step(port, &c, start, queued, rate_pps, r) : 0;
        if (n < 0)
            return n;
        in_flight = port->ops->tx_clean(port);
        uint64_t now = pmd_now_ns();
        if (n > 0 || (uint64_t)in_flight < queued - r->packets)
            progress = now;
        queued += (uint64_t)n;
        r->packets = queued - (uint64_t)in_flight;
        if (c.left == 0 && in_flight == 0)
            break;
        if (now - progress > limit) {
            r->ns = now - start;
            r->bytes = r->packets * size;
            r->next_seq = seq_start + queued;
            return pmd_fail(ETIMEDOUT, "TX stalled for %u ms: %llu of %llu frames done, %d descriptors "
                                       "not completed (link down? TCTL?)", timeout_ms,
                            (unsigned long long)r->packets, (unsigned long long)count, in_flight);
        }
    }
    r->ns = pmd_now_ns() - start;
    r->bytes = r->packets * size;
    r->next_seq = seq_start + queued;
    return 0;
}

int pmd_rx_loop(struct pmd_port *port, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                struct pmd_rx_result *r)
{
    int rc;
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = port_ok(port)) < 0)
        return rc;
    struct rx_acc acc;
    rx_acc_init(&acc, r, expect_seq);
    uint64_t start = pmd_now_ns(), deadline = start + (uint64_t)timeout_ms * MS, before = start;
    while (r->packets < count) {
        if ((rc = pmd_port_check_interrupt(port)) < 0)
            return rc;
        int n = port->ops->rx_burst(port, BURST, rx_recv, &acc);
        if (n < 0)
            return n;
        uint64_t now = pmd_now_ns();
        rx_acc_stamp(&acc, before, now);
        before = now;
        if (n == 0 && now >= deadline) {
            r->timed_out = 1;
            break;
        }
    }
    rx_acc_finish(&acc, start);
    return 0;
}

int pmd_txrx_loop(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size, uint64_t seq_start,
                  uint32_t timeout_ms, struct pmd_tx_result *tr, struct pmd_rx_result *rr)
{
    return pmd_txrx_loop_checked(tx, rx, count, size, seq_start, timeout_ms, PMD_CHECK_PAYLOAD, tr, rr);
}

int pmd_txrx_loop_checked(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size,
                          uint64_t seq_start, uint32_t timeout_ms, int check, struct pmd_tx_result *tr,
                          struct pmd_rx_result *rr)
{
    int rc;
    pmd_clear_error();
    memset(tr, 0, sizeof *tr);
    if ((rc = port_ok(tx)) < 0 || (rc = port_ok(rx)) < 0 || (rc = frame_size_ok(size)) < 0)
        return rc;
    if (check != PMD_CHECK_PAYLOAD && check != PMD_CHECK_SEQUENCE)
        return pmd_fail(EINVAL, "check mode %d: PMD_CHECK_PAYLOAD (0) or PMD_CHECK_SEQUENCE (1)", check);
    struct frame_source c = {.left = count};
    frame_gen_init(&c.gen, rx->mac, tx->mac, size, seq_start, FRAME_DATA);
    struct rx_acc acc;
    rx_acc_init(&acc, rr, seq_start);
    c.gen.payload = acc.payload = (check == PMD_CHECK_PAYLOAD);
    uint64_t start = pmd_now_ns(), progress = start, queued = 0, tx_done_ns = 0, before = start;
    uint64_t limit = (uint64_t)timeout_ms * MS;
    for (;;) {
        if ((rc = pmd_port_check_interrupt(tx)) < 0 || (rc = pmd_port_check_interrupt(rx)) < 0)
            return rc;
        int n = c.left ? tx_step(tx, &c, start, queued, 0, tr) : 0;
        if (n < 0)
            return n;
        queued += (uint64_t)n;
        int in_flight = tx->ops->tx_clean(tx);
        uint64_t done = queued - (uint64_t)in_flight;
        int m = rx->ops->rx_burst(rx, BURST, rx_recv, &acc);
        if (m < 0)
            return m;
        uint64_t now = pmd_now_ns();
        rx_acc_stamp(&acc, before, now);
        before = now;
        if (n > 0 || m > 0 || done != tr->packets)
            progress = now;
        tr->packets = done;
        if (!tx_done_ns && c.left == 0 && in_flight == 0)
            tx_done_ns = now;
        if (rr->packets >= count && tx_done_ns)
            break;
        if (now - progress > limit) {
            rr->timed_out = 1;
            break;
        }
    }
    tr->ns = (tx_done_ns ? tx_done_ns : pmd_now_ns()) - start;
    tr->bytes = tr->packets * size;
    tr->next_seq = seq_start + queued;
    rx_acc_finish(&acc, start);
    return 0;
}

/* ---- PMD -> PMD with TX and RX on threads of their own ---- */
/* The sender does not wait for the receiver (as testpmd's txonly and rxonly): a receiver that
 * falls behind loses frames, and frames it has not taken yet may still arrive late. They are
 * received and dropped here until the wire is quiet, so that the next call starts clean. */
#define DRAIN_MAX_NS (2000 * MS)

static void drop_frame(void *opaque, const uint8_t *data, uint32_t len, uint8_t errors) {}

static int drain_quietly(struct pmd_port *rx)
{
    uint64_t start = pmd_now_ns(), quiet_since = start;
    for (;;) {
        int m = rx->ops->rx_burst(rx, BURST, drop_frame, NULL);
        if (m < 0)
            return m;
        uint64_t now = pmd_now_ns();
        if (m > 0)
            quiet_since = now;
        if (now - quiet_since > DRAIN_QUIET_NS || now - start > DRAIN_MAX_NS)
            return 0;
    }
}

/* As a DPDK application gives each port an lcore: the calling thread receives, a second
 * thread sends. The two share only two atomics: the time TX last made progress (the
 * receive side's timeout counts from the later of its own last frame and that) and a
 * stop flag (RX gave up, or RX failed). Results are the same as pmd_txrx_loop_checked's. */
struct tx_thread {
    struct pmd_port *port;
    struct frame_source c;
    uint64_t limit;
    struct pmd_tx_result *r;
    _Atomic uint64_t progress_ns;
    _Atomic int stop;
    int rc, cpu;
    char error[256];
};

static void *tx_thread_main(void *opaque)
{
    struct tx_thread *t = opaque;
    struct pmd_tx_result *r = t->r;
    uint64_t start = pmd_now_ns(), progress = start, queued = 0, done_ns = 0;
    for (;;) {
        if (atomic_load_explicit(&t->stop, memory_order_relaxed))
            break;
        int rc = pmd_port_check_interrupt(t->port);
        int n = rc < 0 ? rc : (t->c.left ? tx_step(t->port, &t->c, start, queued, 0, r) : 0);
        if (n < 0) {
            t->rc = n;
            snprintf(t->error, sizeof t->error, "%s", pmd_last_error());
            break;
        }
        queued += (uint64_t)n;
        int in_flight = t->port->ops->tx_clean(t->port);
        uint64_t done = queued - (uint64_t)in_flight, now = pmd_now_ns();
        if (n > 0 || done != r->packets) {
            progress = now;
            atomic_store_explicit(&t->progress_ns, now, memory_order_relaxed);
        }
        r->packets = done;
        if (t->c.left == 0 && in_flight == 0) {
            done_ns = now;
            break;
        }
        if (now - progress > t->limit) /* descriptors stopped completing: RX times out after it */
            break;
    }
    r->ns = (done_ns ? done_ns : pmd_now_ns()) - start;
    r->bytes = r->packets * t->c.gen.size;
    r->next_seq = t->c.gen.seq;
    t->cpu = sched_getcpu();
    return NULL;
}

int pmd_txrx_loop_threads(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size,
                          uint64_t seq_start, uint32_t timeout_ms, int check, struct pmd_tx_result *tr,
                          struct pmd_rx_result *rr, struct pmd_txrx_cpus *cpus)
{
    int rc;
    pmd_clear_error();
    memset(tr, 0, sizeof *tr);
    memset(cpus, 0, sizeof *cpus);
    if ((rc = port_ok(tx)) < 0 || (rc = port_ok(rx)) < 0 || (rc = frame_size_ok(size)) < 0)
        return rc;
    if (check != PMD_CHECK_PAYLOAD && check != PMD_CHECK_SEQUENCE)
        return pmd_fail(EINVAL, "check mode %d: PMD_CHECK_PAYLOAD (0) or PMD_CHECK_SEQUENCE (1)", check);
    struct tx_thread t = {.port = tx, .c = {.left = count}, .limit = (uint64_t)timeout_ms * MS, .r = tr};
    frame_gen_init(&t.c.gen, rx->mac, tx->mac, size, seq_start, FRAME_DATA);
    struct rx_acc acc;
    rx_acc_init(&acc, rr, seq_start);
    t.c.gen.payload = acc.payload = (check == PMD_CHECK_PAYLOAD);
    uint64_t start = pmd_now_ns(), progress = start, before = start;
    atomic_init(&t.progress_ns, start);
    atomic_init(&t.stop, 0);
    pthread_t thread;
    if ((rc = pthread_create(&thread, NULL, tx_thread_main, &t)) != 0)
        return pmd_fail(rc, "cannot start the TX thread: %s", strerror(rc));
    int rx_rc = 0;
    while (rr->packets < count) {
        if ((rx_rc = pmd_port_check_interrupt(rx)) < 0)
            break;
        int m = rx->ops->rx_burst(rx, BURST, rx_recv, &acc);
        if (m < 0) {
            rx_rc = m;
            break;
        }
        /* TX's time first: read after `now`, it could be later than now */
        uint64_t tx_progress = atomic_load_explicit(&t.progress_ns, memory_order_relaxed), now = pmd_now_ns();
        rx_acc_stamp(&acc, before, now);
        before = now;
        if (m > 0 || tx_progress > progress)
            progress = m > 0 ? now : tx_progress;
        if (now - progress > t.limit) {
            rr->timed_out = 1;
            break;
        }
    }
    if (rx_rc < 0 || rr->timed_out)
        atomic_store(&t.stop, 1);
    pthread_join(thread, NULL); /* once all frames arrived, TX only has its last completions to clean */
    cpus->tx = t.cpu;
    cpus->rx = sched_getcpu();
    if (rx_rc < 0)
        return rx_rc;
    if (t.rc < 0)
        return pmd_fail(-t.rc, "TX thread: %s", t.error);
    rx_acc_finish(&acc, start);
    return drain_quietly(rx);
}

/* ---- ping-pong ---- */
struct pp_ctx {
    uint64_t want_seq;
    uint16_t want_kind;
    int seen;
    int bad;
    uint32_t len;
};

static void pp_recv(void *opaque, const uint8_t *d, uint32_t len, uint8_t errors)
{
    struct pp_ctx *c = opaque;
    uint64_t seq;
    uint16_t kind;
    int v = frame_check(d, len, &seq, &kind);
    if (v == FRAME_FOREIGN || kind != c->want_kind || seq != c->want_seq)
        return;
    c->seen = 1;
    c->len = len;
    if (v == FRAME_BAD || errors)
        c->bad = 1;
}

struct one_ctx {
    struct frame_gen gen;
    int done;
};

static uint32_t one_fill(void *opaque, uint8_t *buf, uint32_t capacity)
{
    struct one_ctx *c = opaque;
    if (c->done || capacity < c->gen.size)
        return 0;
    c->done = 1;
    return frame_write(&c->gen, buf);
}

static int send_one(struct pmd_port *from, const uint8_t *dst, uint32_t size, uint64_t seq, uint16_t kind)
{
    struct one_ctx c = {.done = 0};
    frame_gen_init(&c.gen, dst, from->mac, size, seq, kind);
    int n = from->ops->tx_burst(from, 1, one_fill, &c);
    return n < 0 ? n : (n == 1 ? 0 : -EAGAIN);
}

static int wait_for(struct pmd_port *port, struct pp_ctx *c, uint64_t deadline)
{
    while (!c->seen) {
        int rc = pmd_port_check_interrupt(port);
        if (rc < 0)
            return rc;
        int n = port->ops->rx_burst(port, BURST, pp_recv, c);
        if (n < 0)
            return n;
        if (n == 0 && pmd_now_ns() >= deadline)
            return -ETIMEDOUT;
    }
    return 0;
}

int pmd_pingpong(struct pmd_port *a, struct pmd_port *b, uint64_t count, uint32_t size, uint32_t timeout_ms,
                 struct pmd_pingpong_result *r)
{
    return pmd_pingpong_rtts(a, b, count, size, timeout_ms, NULL, r);
}

int pmd_pingpong_rtts(struct pmd_port *a, struct pmd_port *b, uint64_t count, uint32_t size, uint32_t timeout_ms,
                      uint64_t *rtt_ns, struct pmd_pingpong_result *r)
{
    int rc;
    pmd_clear_error();
    memset(r, 0, sizeof *r);
    if ((rc = port_ok(a)) < 0 || (rc = port_ok(b)) < 0 || (rc = frame_size_ok(size)) < 0)
        return rc;
    r->min_ns = UINT64_MAX;
    for (uint64_t seq = 0; seq < count; seq++) {
        uint64_t t0 = pmd_now_ns(), deadline = t0 + (uint64_t)timeout_ms * MS;
        if ((rc = send_one(a, b->mac, size, seq, FRAME_PING)) < 0)
            return pmd_fail(-rc, "ping %llu: TX ring of port A busy", (unsigned long long)seq);
        r->sent++;
        struct pp_ctx ping = {.want_seq = seq, .want_kind = FRAME_PING};
        if (wait_for(b, &ping, deadline) < 0)
            break;
        if ((rc = send_one(b, a->mac, size, seq, FRAME_PONG)) < 0)
            return pmd_fail(-rc, "pong %llu: TX ring of port B busy", (unsigned long long)seq);
        struct pp_ctx pong = {.want_seq = seq, .want_kind = FRAME_PONG};
        if (wait_for(a, &pong, deadline) < 0)
            break;
        pmd_rtt_add(r, pmd_now_ns() - t0, rtt_ns, ping.bad | pong.bad);
    }
    if (r->answered == 0)
        r->min_ns = 0;
    a->ops->tx_clean(a);
    b->ops->tx_clean(b);
    return 0;
}
