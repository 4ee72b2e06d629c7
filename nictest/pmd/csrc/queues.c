/* queues.c - several RX/TX queues per port, RSS settings, queue control (pmd.h).
 * Queue 0 stays port->rx / port->tx (every single-queue path is unchanged); the
 * rings of queues 1.. live in their own DMA area (port->queues->dma). What the
 * registers are is the driver's business (ops->queues_apply and friends). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define QUEUE_RING_MAX 256u
#define RING_PAGE 4096

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static int mq_ops(struct pmd_port *port, const char *what)
{
    pmd_clear_error();
    if (!port->ops->queues_apply || !port->ops->rx_queue_burst)
        return pmd_fail(ENOTSUP, "the %s driver has one RX and one TX queue: no %s", port->ops->name, what);
    return 0;
}

static int take_ring(struct pmd_dma *dma, struct pmd_ring_state *r, uint32_t size, uint32_t desc_size)
{
    void *v;
    int rc;
    r->size = size;
    if ((rc = pmd_dma_take(dma, (uint64_t)size * desc_size, RING_PAGE, &r->desc, NULL)) < 0)
        return rc;
    r->buf = calloc(size, sizeof *r->buf);
    r->buf_bus = calloc(size, sizeof *r->buf_bus);
    if (!r->buf || !r->buf_bus)
        return pmd_fail(ENOMEM, "out of memory for ring bookkeeping");
    for (uint32_t i = 0; i < size; i++) {
        if ((rc = pmd_dma_take(dma, PMD_BUF_SIZE, PMD_BUF_SIZE, &v, NULL)) < 0)
            return rc;
        r->buf[i] = v;
    }
    return 0;
}

static void bus_ring(struct pmd_dma *dma, struct pmd_ring_state *r)
{
    if (!r->buf)
        return;
    r->desc_bus = pmd_dma_bus(dma, r->desc);
    for (uint32_t i = 0; i < r->size; i++)
        r->buf_bus[i] = pmd_dma_bus(dma, r->buf[i]);
}

void pmd_queues_free(struct pmd_port *port)
{
    struct pmd_queues *qs = port->queues;
    if (!qs)
        return;
    if (qs->dma.vfio_mapped && port->dev && port->dev->backend->iommu)
        port->dev->backend->unmap(port->dev, qs->dma.iova, qs->dma.size);
    pmd_dma_destroy(&qs->dma);
    for (uint32_t q = 0; q < PMD_QUEUES_MAX; q++) {
        free(qs->rx[q].buf);
        free(qs->rx[q].buf_bus);
        free(qs->tx[q].buf);
        free(qs->tx[q].buf_bus);
    }
    free(qs);
    port->queues = NULL;
}

static int alloc_queues(struct pmd_port *port, struct pmd_queues *qs)
{
    const struct pmd_driver_ops *ops = port->ops;
    uint32_t rsz = port->rx.size < QUEUE_RING_MAX ? port->rx.size : QUEUE_RING_MAX;
    uint32_t tsz = port->tx.size < QUEUE_RING_MAX ? port->tx.size : QUEUE_RING_MAX;
    uint64_t need = (uint64_t)(qs->rx_count - 1) * (rsz * (ops->rx_desc_size + PMD_BUF_SIZE) + RING_PAGE) +
                    (uint64_t)(qs->tx_count - 1) * (tsz * (ops->tx_desc_size + PMD_BUF_SIZE) + RING_PAGE);
    need = (need + PMD_HUGE - 1) & ~(PMD_HUGE - 1);
    if (need == 0)
        need = PMD_HUGE;
    int rc = pmd_dma_create(&qs->dma, need);
    if (rc < 0)
        return rc;
    for (uint32_t q = 1; q < qs->rx_count; q++)
        if ((rc = take_ring(&qs->dma, &qs->rx[q], rsz, ops->rx_desc_size)) < 0)
            return rc;
    for (uint32_t q = 1; q < qs->tx_count; q++)
        if ((rc = take_ring(&qs->dma, &qs->tx[q], tsz, ops->tx_desc_size)) < 0)
            return rc;
    if (port->dev->backend->iommu) {
        /* Right after the port's own area (its IOVA range is the port's to choose). */
        qs->dma.iova = port->dma.iova + port->dma.size;
        if ((rc = port->dev->backend->map(port->dev, qs->dma.iova, qs->dma.virt, qs->dma.size)) < 0)
            return rc;
        qs->dma.vfio_mapped = 1;
    } else if ((rc = pmd_dma_resolve_phys(&qs->dma)) < 0) {
        return rc;
    }
    for (uint32_t q = 1; q < PMD_QUEUES_MAX; q++) {
        bus_ring(&qs->dma, &qs->rx[q]);
        bus_ring(&qs->dma, &qs->tx[q]);
    }
    return 0;
}

int pmd_port_setup_queues(struct pmd_port *port, uint32_t rx_queues, uint32_t tx_queues)
{
    int rc;
    if ((rc = mq_ops(port, "queue setup")) < 0)
        return rc;
    if (port->queues)
        return pmd_fail(EBUSY, "the queues of this port are already set up (%u RX, %u TX)",
                        port->queues->rx_count, port->queues->tx_count);
    if (rx_queues < 1 || tx_queues < 1 || rx_queues > port->board->rx_queues || tx_queues > port->board->tx_queues ||
        rx_queues > PMD_QUEUES_MAX || tx_queues > PMD_QUEUES_MAX)
        return pmd_fail(EINVAL, "%u RX / %u TX queues: the %s driver takes 1 to %u / %u", rx_queues, tx_queues,
                        port->ops->name, port->board->rx_queues, port->board->tx_queues);
    struct pmd_queues *qs = calloc(1, sizeof *qs);
    if (!qs)
        return pmd_fail(ENOMEM, "out of memory");
    qs->rx_count = rx_queues;
    qs->tx_count = tx_queues;
    port->queues = qs;
    if ((rc = alloc_queues(port, qs)) < 0 || (rc = port->ops->queues_apply(port)) < 0) {
        port->ops->stop(port);
        pmd_queues_free(port);
        port->ops->init(port); /* back to one queue pair */
        return rc;
    }
    return 0;
}

int pmd_port_queue_count(struct pmd_port *port, uint32_t *rx_queues, uint32_t *tx_queues)
{
    pmd_clear_error();
    *rx_queues = port->queues ? port->queues->rx_count : 1;
    *tx_queues = port->queues ? port->queues->tx_count : 1;
    return 0;
}

int pmd_port_set_rss(struct pmd_port *port, uint32_t fields, const uint8_t *key, const uint8_t *reta)
{
    int rc;
    if ((rc = mq_ops(port, "RSS")) < 0)
        return rc;
    if (!port->queues)
        return pmd_fail(EINVAL, "RSS needs several RX queues: pmd_port_setup_queues first");
    if (fields & ~(uint32_t)(PMD_RSS_IPV4 | PMD_RSS_IPV4_TCP | PMD_RSS_IPV4_UDP))
        return pmd_fail(EINVAL, "RSS fields 0x%x: only IPV4 1, IPV4_TCP 2, IPV4_UDP 4", fields);
    if (fields && (!key || !reta))
        return pmd_fail(EINVAL, "RSS on needs a key and a redirection table");
    struct pmd_queues *qs = port->queues;
    if (fields) {
        for (uint32_t i = 0; i < PMD_RETA_ENTRIES; i++)
            if (reta[i] >= qs->rx_count)
                return pmd_fail(EINVAL, "redirection table entry %u names queue %u; the port has %u RX queues", i,
                                reta[i], qs->rx_count);
        memcpy(qs->key, key, PMD_RSS_KEY_BYTES);
        memcpy(qs->reta, reta, PMD_RETA_ENTRIES);
    }
    qs->rss_fields = fields;
    return port->ops->queues_apply(port);
}

int pmd_port_rx_queue_enable(struct pmd_port *port, uint32_t queue, int on)
{
    int rc;
    if ((rc = mq_ops(port, "queue control")) < 0)
        return rc;
    if (!port->ops->rx_queue_enable)
        return pmd_fail(ENOTSUP, "the %s driver cannot stop one RX queue: the MAC has no per-queue enable",
                        port->ops->name);
    uint32_t n = port->queues ? port->queues->rx_count : 1;
    if (queue >= n)
        return pmd_fail(EINVAL, "RX queue %u: the port uses %u", queue, n);
    if (!port->queues)
        return pmd_fail(EINVAL, "queue control needs pmd_port_setup_queues first");
    if ((rc = port->ops->rx_queue_enable(port, queue, on)) < 0)
        return rc;
    if (on)
        port->queues->rx_stopped &= ~(1u << queue);
    else
        port->queues->rx_stopped |= 1u << queue;
    return 0;
}

int pmd_port_stop(struct pmd_port *port)
{
    pmd_clear_error();
    return port->ops->stop(port);
}

int pmd_port_start(struct pmd_port *port)
{
    pmd_clear_error();
    if (!port->ops->start)
        return pmd_fail(ENOTSUP, "the %s driver has no start after stop", port->ops->name);
    return port->ops->start(port);
}

int pmd_rx_frames(struct pmd_port *port, uint32_t count, uint32_t timeout_ms, uint32_t idle_ms,
                  struct pmd_rx_frame *out, uint32_t *got)
{
    int rc;
    *got = 0;
    if ((rc = mq_ops(port, "per-queue receive")) < 0)
        return rc;
    uint32_t nq = port->queues ? port->queues->rx_count : 1, n = 0;
    uint64_t start = now_ms(), last = start;
    for (;;) {
        if ((rc = pmd_port_check_interrupt(port)) < 0)
            return rc;
        for (uint32_t q = 0; q < nq && n < count; q++) {
            int m = port->ops->rx_queue_burst(port, q, count - n, out + n);
            if (m < 0)
                return m;
            if (m > 0)
                last = now_ms();
            n += (uint32_t)m;
        }
        *got = n;
        uint64_t t = now_ms();
        if (n >= count || t - start >= timeout_ms || (idle_ms && n && t - last >= idle_ms))
            return 0;
    }
}

int pmd_tx_frames(struct pmd_port *port, uint32_t queue, const uint8_t *frames, const uint32_t *lens,
                  uint32_t count, uint32_t timeout_ms)
{
    pmd_clear_error();
    uint32_t nq = port->queues ? port->queues->tx_count : 1;
    if (queue >= nq)
        return pmd_fail(EINVAL, "TX queue %u: the port uses %u", queue, nq);
    if (queue == 0 && !port->ops->tx_chain)
        return pmd_fail(ENOTSUP, "the %s driver cannot send a given frame", port->ops->name);
    if (queue > 0 && !port->ops->tx_queue_frame)
        return pmd_fail(ENOTSUP, "the %s driver cannot send on TX queue %u", port->ops->name, queue);
    uint64_t start = now_ms();
    size_t off = 0;
    for (uint32_t i = 0; i < count;) {
        if (lens[i] < 14 || lens[i] > PMD_BUF_SIZE)
            return pmd_fail(EINVAL, "frame %u: %u bytes, want 14 to %d", i, lens[i], PMD_BUF_SIZE);
        int rc = queue == 0 ? port->ops->tx_chain(port, frames + off, lens[i])
                            : port->ops->tx_queue_frame(port, queue, frames + off, lens[i]);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            off += lens[i];
            i++;
        } else if (now_ms() - start > timeout_ms) {
            return pmd_fail(ETIMEDOUT, "TX queue %u full for %u ms (%u of %u frames queued)", queue, timeout_ms, i,
                            count);
        }
    }
    /* Completion: queue 0 through tx_clean; other queues: their driver reaps on the next call. */
    while (queue == 0 && port->ops->tx_clean(port) > 0) {
        if (now_ms() - start > timeout_ms)
            return pmd_fail(ETIMEDOUT, "%u frames queued, not all completed within %u ms", count, timeout_ms);
    }
    return 0;
}
