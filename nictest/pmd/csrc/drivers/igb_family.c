/* igb_family.c - advanced-descriptor rings, polled (see igb_family.h). */
#include <errno.h>
#include <string.h>

#include "../regs.h"
#include "igb_family.h"

void igb_family_rings_program(struct pmd_port *port, uint32_t rx_block, uint32_t tx_block)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *rx = &port->rx, *tx = &port->tx;

    /* RX: advanced one-buffer descriptors, each owning a 2 KiB buffer. */
    union igb_adv_rx_desc *rd = rx->desc;
    for (uint32_t i = 0; i < rx->size; i++) {
        rd[i].read.pkt_addr = rx->buf_bus[i];
        rd[i].read.hdr_addr = 0;
    }
    set_reg32(bar, rx_block + ADV_Q_BAL, (uint32_t)rx->desc_bus);
    set_reg32(bar, rx_block + ADV_Q_BAH, (uint32_t)(rx->desc_bus >> 32));
    set_reg32(bar, rx_block + ADV_Q_LEN, rx->size * (uint32_t)sizeof(union igb_adv_rx_desc));
    set_reg32(bar, rx_block + ADV_Q_SRRCTL, IGB_SRRCTL_VALUE);
    set_reg32(bar, rx_block + ADV_Q_HEAD, 0);
    set_reg32(bar, rx_block + ADV_Q_TAIL, 0);
    rx->next = 0;

    /* TX: empty, no head write-back (completion is the DD bit). */
    memset(tx->desc, 0, tx->size * sizeof(union igb_adv_tx_desc));
    set_reg32(bar, tx_block + ADV_Q_BAL, (uint32_t)tx->desc_bus);
    set_reg32(bar, tx_block + ADV_Q_BAH, (uint32_t)(tx->desc_bus >> 32));
    set_reg32(bar, tx_block + ADV_Q_LEN, tx->size * (uint32_t)sizeof(union igb_adv_tx_desc));
    set_reg32(bar, tx_block + ADV_Q_WBAL, 0);
    set_reg32(bar, tx_block + ADV_Q_WBAH, 0);
    set_reg32(bar, tx_block + ADV_Q_HEAD, 0);
    set_reg32(bar, tx_block + ADV_Q_TAIL, 0);
    tx->next = tx->clean = 0;
}

int igb_family_tx_clean(struct pmd_port *port)
{
    struct pmd_ring_state *tx = &port->tx;
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next) {
        if (!(((volatile union igb_adv_tx_desc *)&td[tx->clean])->wb.status & IGB_TXD_STAT_DD))
            break;
        tx->clean = (tx->clean + 1) & mask;
    }
    return (int)((tx->next - tx->clean) & mask);
}

/* One frame in one advanced data descriptor: FCS added by the device, DD reported. */
static void tx_desc_fill(union igb_adv_tx_desc *d, uint64_t bus, uint32_t len)
{
    d->read.buffer_addr = bus;
    d->read.cmd_type_len = len | IGB_ADVTXD_DTYP_DATA | IGB_ADVTXD_DCMD_DEXT | IGB_ADVTXD_DCMD_EOP |
                           IGB_ADVTXD_DCMD_IFCS | IGB_ADVTXD_DCMD_RS;
    d->read.olinfo_status = len << IGB_ADVTXD_PAYLEN_SHIFT;
}

int igb_family_tx_burst(struct pmd_port *port, uint32_t tdt, uint32_t max, pmd_fill_fn fill, void *ctx)
{
    struct pmd_ring_state *tx = &port->tx;
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    uint32_t in_flight = (uint32_t)igb_family_tx_clean(port);
    uint32_t free_slots = tx->size - 1 - in_flight;
    uint32_t n = 0;
    if (max > free_slots)
        max = free_slots;
    while (n < max) {
        uint32_t i = tx->next;
        uint32_t len = fill(ctx, tx->buf[i], PMD_BUF_SIZE);
        if (len == 0)
            break;
        tx_desc_fill(&td[i], tx->buf_bus[i], len);
        tx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, tdt, tx->next); /* once per burst */
    return (int)n;
}

int igb_family_tx_raw(struct pmd_port *port, uint32_t tdt, uint64_t bus, uint32_t len)
{
    struct pmd_ring_state *tx = &port->tx;
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t in_flight = (uint32_t)igb_family_tx_clean(port);
    if (in_flight >= tx->size - 1)
        return pmd_fail(EBUSY, "TX ring full");
    uint32_t i = tx->next;
    tx_desc_fill(&td[i], bus, len);
    tx->next = (i + 1) & (tx->size - 1);
    set_reg32(port->regs, tdt, tx->next);
    return (int)i;
}

int igb_family_rx_burst(struct pmd_port *port, uint32_t rdt, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    struct pmd_ring_state *rx = &port->rx;
    union igb_adv_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    while (n < max) {
        uint32_t i = rx->next;
        volatile union igb_adv_rx_desc *d = &rd[i];
        uint32_t status = d->wb.status_error;
        if (!(status & IGB_RXD_STAT_DD))
            break;
        pmd_barrier(); /* read the descriptor before the data it describes */
        pmd_rx_deliver(port, rx->buf[i], d->wb.length, status & IGB_RXD_STAT_EOP,
                       (uint8_t)(status >> IGB_RXD_ERR_SHIFT), recv, ctx); /* whole frames, jumbo too */
        /* Back to the read format: own buffer (undoes pmd_rx_point_next), DD cleared. */
        d->read.pkt_addr = rx->buf_bus[i];
        d->read.hdr_addr = 0;
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, rdt, last); /* once per burst */
    return (int)n;
}

int igb_family_rx_point_next(struct pmd_port *port, uint64_t bus)
{
    union igb_adv_rx_desc *rd = port->rx.desc;
    volatile union igb_adv_rx_desc *d = &rd[port->rx.next];
    if (d->wb.status_error & IGB_RXD_STAT_DD)
        return pmd_fail(EBUSY, "the next RX descriptor is already complete: receive pending frames first");
    d->read.pkt_addr = bus;
    pmd_barrier();
    return 0;
}
