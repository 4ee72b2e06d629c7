/* igb_queues.c - 82576 PF: RX/TX queues beyond queue 0, RSS, per-queue start and stop
 * (datasheet 4.5.9 / 4.5.10 receive and transmit queue enable, 7.1.2.8 RSS). Queue 0's
 * rings are igb.c's (igb_family.c); here the same programming for queue q's ring. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "../regs.h"
#include "igb_family.h"
#include "igb_queues.h"
#include "igb_regs.h"

#define QUEUE_TIMEOUT_MS 100

static void rx_ring_program(struct pmd_port *port, uint32_t q)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *rx = pmd_rx_ring(port, q);
    union igb_adv_rx_desc *rd = rx->desc;
    for (uint32_t i = 0; i < rx->size; i++) {
        rd[i].read.pkt_addr = rx->buf_bus[i];
        rd[i].read.hdr_addr = 0;
    }
    set_reg32(bar, IGB_RDBAL(q), (uint32_t)rx->desc_bus);
    set_reg32(bar, IGB_RDBAH(q), (uint32_t)(rx->desc_bus >> 32));
    set_reg32(bar, IGB_RDLEN(q), rx->size * (uint32_t)sizeof(union igb_adv_rx_desc));
    set_reg32(bar, IGB_SRRCTL(q), IGB_SRRCTL_VALUE);
    set_reg32(bar, IGB_RDH(q), 0);
    set_reg32(bar, IGB_RDT(q), 0);
    rx->next = 0;
}

static void tx_ring_program(struct pmd_port *port, uint32_t q)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *tx = pmd_tx_ring(port, q);
    memset(tx->desc, 0, tx->size * sizeof(union igb_adv_tx_desc));
    set_reg32(bar, IGB_TDBAL(q), (uint32_t)tx->desc_bus);
    set_reg32(bar, IGB_TDBAH(q), (uint32_t)(tx->desc_bus >> 32));
    set_reg32(bar, IGB_TDLEN(q), tx->size * (uint32_t)sizeof(union igb_adv_tx_desc));
    set_reg32(bar, IGB_TDWBAL(q), 0);
    set_reg32(bar, IGB_TDWBAH(q), 0);
    set_reg32(bar, IGB_TDH(q), 0);
    set_reg32(bar, IGB_TDT(q), 0);
    tx->next = tx->clean = 0;
}

static int queue_off(volatile uint8_t *bar, uint32_t reg, uint32_t bit, const char *name, uint32_t q)
{
    set_reg32(bar, reg, get_reg32(bar, reg) & ~bit);
    if (wait_reg32(bar, reg, bit, 0, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s%u enable bit still set %d ms after clearing it", name, q, QUEUE_TIMEOUT_MS);
    return 0;
}

static int queue_on(volatile uint8_t *bar, uint32_t reg, uint32_t value, uint32_t bit, const char *name, uint32_t q)
{
    set_reg32(bar, reg, value);
    if (wait_reg32(bar, reg, bit, bit, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s%u = 0x%08x: queue not enabled %d ms after setting its enable bit", name, q,
                        get_reg32(bar, reg), QUEUE_TIMEOUT_MS);
    return 0;
}

/* Ring reprogrammed from scratch, enabled, then the tail (datasheet: tail only once enabled). */
static int rx_queue_start(struct pmd_port *port, uint32_t q)
{
    volatile uint8_t *bar = port->regs;
    rx_ring_program(port, q);
    int rc = queue_on(bar, IGB_RXDCTL(q), IGB_RXDCTL_ENABLE | 1u << IGB_RXDCTL_WTHRESH_SHIFT, IGB_RXDCTL_ENABLE,
                      "RXDCTL", q);
    if (rc < 0)
        return rc;
    set_reg32(bar, IGB_RDT(q), pmd_rx_ring(port, q)->size - 1);
    return 0;
}

static void rss_write(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_queues *qs = port->queues;
    uint32_t mrqc = 0;
    if (qs->rss_fields) {
        for (uint32_t i = 0; i < IGB_RSSRK_REGS; i++)
            set_reg32(bar, IGB_RSSRK(i), (uint32_t)qs->key[4 * i] | (uint32_t)qs->key[4 * i + 1] << 8 |
                                             (uint32_t)qs->key[4 * i + 2] << 16 | (uint32_t)qs->key[4 * i + 3] << 24);
        for (uint32_t i = 0; i < IGB_RETA_REGS; i++)
            set_reg32(bar, IGB_RETA(i), (uint32_t)qs->reta[4 * i] | (uint32_t)qs->reta[4 * i + 1] << 8 |
                                            (uint32_t)qs->reta[4 * i + 2] << 16 | (uint32_t)qs->reta[4 * i + 3] << 24);
        mrqc = IGB_MRQC_MRQE_RSS;
        if (qs->rss_fields & PMD_RSS_IPV4)
            mrqc |= IGB_MRQC_RSS_FIELD_IPV4;
        if (qs->rss_fields & PMD_RSS_IPV4_TCP)
            mrqc |= IGB_MRQC_RSS_FIELD_IPV4_TCP;
        if (qs->rss_fields & PMD_RSS_IPV4_UDP)
            mrqc |= IGB_MRQC_RSS_FIELD_IPV4_UDP;
        set_reg32(bar, IGB_RXCSUM, get_reg32(bar, IGB_RXCSUM) | IGB_RXCSUM_PCSD);
    } else {
        set_reg32(bar, IGB_RXCSUM, get_reg32(bar, IGB_RXCSUM) & ~IGB_RXCSUM_PCSD);
    }
    set_reg32(bar, IGB_MRQC, mrqc);
}

int igb_queues_apply(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_queues *qs = port->queues;
    int rc;
    if (!qs)
        return 0;
    rss_write(port);
    for (uint32_t q = 1; q < qs->tx_count; q++) {
        if (get_reg32(bar, IGB_TXDCTL(q)) & IGB_TXDCTL_ENABLE)
            continue; /* running: keep it */
        tx_ring_program(port, q);
        if ((rc = queue_on(bar, IGB_TXDCTL(q), IGB_TXDCTL_ENABLE, IGB_TXDCTL_ENABLE, "TXDCTL", q)) < 0)
            return rc;
    }
    for (uint32_t q = 1; q < qs->rx_count; q++) {
        if ((qs->rx_stopped & (1u << q)) || (get_reg32(bar, IGB_RXDCTL(q)) & IGB_RXDCTL_ENABLE))
            continue;
        if ((rc = rx_queue_start(port, q)) < 0)
            return rc;
    }
    if (qs->rx_stopped & 1u)
        return queue_off(bar, IGB_RXDCTL(0), IGB_RXDCTL_ENABLE, "RXDCTL", 0);
    return 0;
}

int igb_rx_queue_enable(struct pmd_port *port, uint32_t q, int on)
{
    volatile uint8_t *bar = port->regs;
    int rc = queue_off(bar, IGB_RXDCTL(q), IGB_RXDCTL_ENABLE, "RXDCTL", q);
    if (rc < 0 || !on)
        return rc;
    return rx_queue_start(port, q); /* a fresh ring: what the stopped queue held is gone */
}

static uint32_t hash_type(uint32_t pkt_info)
{
    switch (pkt_info & IGB_RXD_RSSTYPE_MASK) {
    case 0: return PMD_HASH_NONE;
    case IGB_RXD_RSSTYPE_IPV4: return PMD_HASH_IPV4;
    case IGB_RXD_RSSTYPE_IPV4_TCP: return PMD_HASH_IPV4_TCP;
    case IGB_RXD_RSSTYPE_IPV4_UDP: return PMD_HASH_IPV4_UDP;
    default: return PMD_HASH_OTHER;
    }
}

int igb_rx_queue_burst(struct pmd_port *port, uint32_t q, uint32_t max, struct pmd_rx_frame *out)
{
    struct pmd_ring_state *rx = pmd_rx_ring(port, q);
    union igb_adv_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    while (n < max) {
        uint32_t i = rx->next;
        volatile union igb_adv_rx_desc *d = &rd[i];
        uint32_t status = d->wb.status_error;
        if (!(status & IGB_RXD_STAT_DD))
            break;
        pmd_barrier();
        struct pmd_rx_frame *f = &out[n];
        uint32_t len = d->wb.length;
        f->queue = q;
        f->len = len;
        f->hash = d->wb.rss;
        f->hash_type = hash_type(d->wb.pkt_info);
        f->errors = (status >> IGB_RXD_ERR_SHIFT) | (status & IGB_RXD_STAT_EOP ? 0 : 0x80u);
        memset(f->data, 0, sizeof f->data);
        memcpy(f->data, rx->buf[i], len < sizeof f->data ? len : sizeof f->data);
        d->read.pkt_addr = rx->buf_bus[i];
        d->read.hdr_addr = 0;
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, IGB_RDT(q), last);
    return (int)n;
}

int igb_tx_queue_frame(struct pmd_port *port, uint32_t q, const uint8_t *frame, uint32_t len)
{
    struct pmd_ring_state *tx = pmd_tx_ring(port, q);
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next &&
           (((volatile union igb_adv_tx_desc *)&td[tx->clean])->wb.status & IGB_TXD_STAT_DD))
        tx->clean = (tx->clean + 1) & mask;
    if (((tx->next - tx->clean) & mask) >= tx->size - 1)
        return 0;
    uint32_t i = tx->next;
    memcpy(tx->buf[i], frame, len);
    td[i].read.buffer_addr = tx->buf_bus[i];
    td[i].read.olinfo_status = len << IGB_ADVTXD_PAYLEN_SHIFT;
    td[i].read.cmd_type_len = len | IGB_ADVTXD_DTYP_DATA | IGB_ADVTXD_DCMD_DEXT | IGB_ADVTXD_DCMD_IFCS |
                              IGB_ADVTXD_DCMD_RS | IGB_ADVTXD_DCMD_EOP;
    tx->next = (i + 1) & mask;
    set_reg32(port->regs, IGB_TDT(q), tx->next);
    return 1;
}
