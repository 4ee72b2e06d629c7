/* e1000e_queues.c - 82574L: RX/TX queue 1 beside queue 0, RSS over IPv4 and IPv4/TCP
 * (datasheet 7.1.9 receive-side scaling, 10.2.5 MRQC/RETA/RSSRK). The MAC has no
 * per-queue enable: both RX rings are (re)programmed together, with RX off meanwhile.
 * Queue 0's ring is port->rx (legacy.c set it up); here it turns extended. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "../regs.h"
#include "e1000e_queues.h"
#include "e1000e_regs.h"
#include "legacy.h"

static void ext_ring_program(struct pmd_port *port, uint32_t q)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *rx = pmd_rx_ring(port, q);
    union e1000e_ext_rx_desc *rd = rx->desc;
    for (uint32_t i = 0; i < rx->size; i++) {
        rd[i].read.addr = rx->buf_bus[i];
        rd[i].read.reserved = 0;
    }
    set_reg32(bar, E1000_RDBAL_Q(q), (uint32_t)rx->desc_bus);
    set_reg32(bar, E1000_RDBAH_Q(q), (uint32_t)(rx->desc_bus >> 32));
    set_reg32(bar, E1000_RDLEN_Q(q), rx->size * (uint32_t)sizeof(union e1000e_ext_rx_desc));
    set_reg32(bar, E1000_RDH_Q(q), 0);
    set_reg32(bar, E1000_RDT_Q(q), 0);
    rx->next = 0;
}

static void tx_ring_program(struct pmd_port *port, uint32_t q)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *tx = pmd_tx_ring(port, q);
    memset(tx->desc, 0, tx->size * sizeof(struct legacy_tx_desc));
    set_reg32(bar, E1000_TDBAL_Q(q), (uint32_t)tx->desc_bus);
    set_reg32(bar, E1000_TDBAH_Q(q), (uint32_t)(tx->desc_bus >> 32));
    set_reg32(bar, E1000_TDLEN_Q(q), tx->size * (uint32_t)sizeof(struct legacy_tx_desc));
    set_reg32(bar, E1000_TDH_Q(q), 0);
    set_reg32(bar, E1000_TDT_Q(q), 0);
    tx->next = tx->clean = 0;
}

static uint32_t le32_of(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int rss_write(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_queues *qs = port->queues;
    uint32_t mrqc = 0, rxcsum = get_reg32(bar, E1000_RXCSUM);
    if (qs->rss_fields & PMD_RSS_IPV4_UDP)
        return pmd_fail(EINVAL, "the 82574L has no IPv4/UDP RSS field (MRQC): UDP frames hash over their "
                                "addresses under IPV4");
    if (qs->rss_fields) {
        for (uint32_t i = 0; i < E1000_RSSRK_REGS; i++)
            set_reg32(bar, E1000_RSSRK(i), le32_of(&qs->key[4 * i]));
        for (uint32_t i = 0; i < E1000_RETA_REGS; i++) {
            uint8_t e[4];
            for (uint32_t k = 0; k < 4; k++)
                e[k] = (uint8_t)(qs->reta[4 * i + k] << E1000_RETA_QUEUE_SHIFT);
            set_reg32(bar, E1000_RETA(i), le32_of(e));
        }
        mrqc = E1000_MRQC_RSS_ENABLE_2Q;
        if (qs->rss_fields & PMD_RSS_IPV4)
            mrqc |= E1000_MRQC_RSS_FIELD_IPV4;
        if (qs->rss_fields & PMD_RSS_IPV4_TCP)
            mrqc |= E1000_MRQC_RSS_FIELD_IPV4_TCP;
        rxcsum |= E1000_RXCSUM_PCSD;
    } else {
        rxcsum &= ~E1000_RXCSUM_PCSD;
    }
    set_reg32(bar, E1000_RXCSUM, rxcsum);
    set_reg32(bar, E1000_MRQC, mrqc);
    if (get_reg32(bar, E1000_MRQC) != mrqc)
        return pmd_fail(EIO, "MRQC read back 0x%08x, wrote 0x%08x", get_reg32(bar, E1000_MRQC), mrqc);
    return 0;
}

int e1000e_queues_apply(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_queues *qs = port->queues;
    int rc;
    if (!qs)
        return 0;
    uint32_t rctl = get_reg32(bar, E1000_RCTL);
    set_reg32(bar, E1000_RCTL, rctl & ~E1000_RCTL_EN);
    set_reg32(bar, E1000_RFCTL, get_reg32(bar, E1000_RFCTL) | E1000_RFCTL_EXTEN);
    for (uint32_t q = 0; q < qs->rx_count; q++)
        ext_ring_program(port, q);
    port->driver_state[E1000E_EXT_RX_WORD] = 1;
    for (uint32_t q = 1; q < qs->tx_count; q++)
        if (!(port->driver_state[E1000E_TX_UP_WORD] & (1u << q))) {
            tx_ring_program(port, q);
            port->driver_state[E1000E_TX_UP_WORD] |= 1u << q;
        }
    if ((rc = rss_write(port)) < 0)
        return rc;
    set_reg32(bar, E1000_RCTL, rctl | E1000_RCTL_EN);
    for (uint32_t q = 0; q < qs->rx_count; q++) /* tails once RX is on: all but one descriptor */
        set_reg32(bar, E1000_RDT_Q(q), pmd_rx_ring(port, q)->size - 1);
    if (!(get_reg32(bar, E1000_RFCTL) & E1000_RFCTL_EXTEN))
        return pmd_fail(EIO, "RFCTL.EXTEN did not take (RFCTL 0x%08x)", get_reg32(bar, E1000_RFCTL));
    return 0;
}

static uint32_t hash_type(uint32_t mrq)
{
    switch (mrq & E1000_RXD_MRQ_RSSTYPE_MASK) {
    case 0: return PMD_HASH_NONE;
    case E1000_RXD_RSSTYPE_IPV4: return PMD_HASH_IPV4;
    case E1000_RXD_RSSTYPE_IPV4_TCP: return PMD_HASH_IPV4_TCP;
    default: return PMD_HASH_OTHER;
    }
}

/* Re-arm descriptor i of ring rx for the device (read format). */
static void rearm(struct pmd_ring_state *rx, uint32_t i)
{
    union e1000e_ext_rx_desc *rd = rx->desc;
    rd[i].read.addr = rx->buf_bus[i];
    rd[i].read.reserved = 0;
}

int e1000e_rx_queue_burst(struct pmd_port *port, uint32_t q, uint32_t max, struct pmd_rx_frame *out)
{
    struct pmd_ring_state *rx = pmd_rx_ring(port, q);
    union e1000e_ext_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    if (!port->driver_state[E1000E_EXT_RX_WORD])
        return pmd_fail(EINVAL, "per-queue receive needs the queues set up (pmd_port_setup_queues)");
    while (n < max) {
        uint32_t i = rx->next;
        volatile union e1000e_ext_rx_desc *d = &rd[i];
        uint32_t status = d->wb.status_error;
        if (!(status & E1000_RXDEXT_STAT_DD))
            break;
        pmd_barrier(); /* the descriptor before the data it describes */
        struct pmd_rx_frame *f = &out[n];
        uint32_t len = d->wb.length;
        f->queue = q;
        f->len = len;
        f->hash = d->wb.rss;
        f->hash_type = hash_type(d->wb.mrq);
        f->errors = (status >> E1000_RXDEXT_ERR_SHIFT) | (status & E1000_RXDEXT_STAT_EOP ? 0 : 0x80u);
        memset(f->data, 0, sizeof f->data);
        memcpy(f->data, rx->buf[i], len < sizeof f->data ? len : sizeof f->data);
        rearm(rx, i);
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, E1000_RDT_Q(q), last);
    return (int)n;
}

int e1000e_ext_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    struct pmd_ring_state *rx = &port->rx;
    union e1000e_ext_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    while (n < max) {
        uint32_t i = rx->next;
        volatile union e1000e_ext_rx_desc *d = &rd[i];
        uint32_t status = d->wb.status_error;
        if (!(status & E1000_RXDEXT_STAT_DD))
            break;
        pmd_barrier();
        pmd_rx_deliver(port, rx->buf[i], d->wb.length, status & E1000_RXDEXT_STAT_EOP,
                       (uint8_t)(status >> E1000_RXDEXT_ERR_SHIFT), recv, ctx);
        rearm(rx, i);
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, E1000_RDT_Q(0), last);
    return (int)n;
}

int e1000e_tx_queue_frame(struct pmd_port *port, uint32_t q, const uint8_t *frame, uint32_t len)
{
    struct pmd_ring_state *tx = pmd_tx_ring(port, q);
    struct legacy_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next &&
           (((volatile struct legacy_tx_desc *)&td[tx->clean])->status & E1000_TXD_STAT_DD))
        tx->clean = (tx->clean + 1) & mask;
    if (((tx->next - tx->clean) & mask) >= tx->size - 1)
        return 0;
    uint32_t i = tx->next;
    memcpy(tx->buf[i], frame, len);
    memset(&td[i], 0, sizeof td[i]);
    td[i].addr = tx->buf_bus[i];
    td[i].length = (uint16_t)len;
    td[i].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
    tx->next = (i + 1) & mask;
    set_reg32(port->regs, E1000_TDT_Q(q), tx->next);
    return 1;
}
