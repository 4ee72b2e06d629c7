/* legacy.c - legacy descriptor rings on the e1000-family MACs, polled
 * (see legacy.h). Register names: e1000_regs.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../regs.h"
#include "e1000_regs.h"
#include "legacy.h"
#include "legacy_offload.h"

#define RESET_TIMEOUT_MS 100
#define STOP_SETTLE_US 2000

int legacy_stop(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    set_reg32(bar, E1000_RCTL, get_reg32(bar, E1000_RCTL) & ~E1000_RCTL_EN);
    set_reg32(bar, E1000_TCTL, get_reg32(bar, E1000_TCTL) & ~E1000_TCTL_EN);
    (void)get_reg32(bar, E1000_STATUS); /* flush posted writes */
    /* Ring 0 of these MACs has no "queue stopped" bit: give in-flight
     * descriptor fetches a bounded moment to drain. */
    struct timespec settle = {0, STOP_SETTLE_US * 1000};
    nanosleep(&settle, NULL);
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    port->started = 0;
    return 0;
}

int legacy_reset(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    set_reg32(bar, E1000_CTRL, get_reg32(bar, E1000_CTRL) | E1000_CTRL_RST);
    /* RST self-clears; bounded wait (the datasheets ask for >= 1 us before access). */
    int rc = wait_reg32(bar, E1000_CTRL, E1000_CTRL_RST, 0, RESET_TIMEOUT_MS);
    if (rc < 0)
        return pmd_fail(ETIMEDOUT, "CTRL.RST did not clear within %d ms", RESET_TIMEOUT_MS);
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    (void)get_reg32(bar, E1000_ICR);
    return 0;
}

void legacy_quiesce(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    /* Polling: mask every interrupt, clear pending causes, no moderation. */
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    (void)get_reg32(bar, E1000_ICR);
    set_reg32(bar, E1000_ITR, 0);
    /* Rings off while they are (re)programmed. */
    set_reg32(bar, E1000_RCTL, 0);
    set_reg32(bar, E1000_TCTL, 0);
    (void)get_reg32(bar, E1000_STATUS);
    /* Link up, no reset pending. */
    set_reg32(bar, E1000_CTRL, (get_reg32(bar, E1000_CTRL) | E1000_CTRL_SLU) & ~E1000_CTRL_RST);
    /* Plain checksum field, no delay timers. */
    set_reg32(bar, E1000_RXCSUM, 0);
    legacy_offload_reset(bar); /* no VLAN mode / filter (CTRL.VME, VFTA): what a previous user set */
    set_reg32(bar, E1000_RDTR, 0);
    set_reg32(bar, E1000_RADV, 0);
    set_reg32(bar, E1000_TIDV, 0);
    set_reg32(bar, E1000_TADV, 0);
}

int legacy_rings_start(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *rx = &port->rx, *tx = &port->tx;

    /* RX ring 0: every descriptor owns its buffer. */
    struct legacy_rx_desc *rd = rx->desc;
    for (uint32_t i = 0; i < rx->size; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].addr = rx->buf_bus[i];
    }
    set_reg32(bar, E1000_RDBAL, (uint32_t)rx->desc_bus);
    set_reg32(bar, E1000_RDBAH, (uint32_t)(rx->desc_bus >> 32));
    set_reg32(bar, E1000_RDLEN, rx->size * (uint32_t)sizeof(struct legacy_rx_desc));
    set_reg32(bar, E1000_RDH, 0);
    set_reg32(bar, E1000_RDT, 0);
    rx->next = 0;

    /* TX ring 0: empty. */
    memset(tx->desc, 0, tx->size * sizeof(struct legacy_tx_desc));
    set_reg32(bar, E1000_TDBAL, (uint32_t)tx->desc_bus);
    set_reg32(bar, E1000_TDBAH, (uint32_t)(tx->desc_bus >> 32));
    set_reg32(bar, E1000_TDLEN, tx->size * (uint32_t)sizeof(struct legacy_tx_desc));
    set_reg32(bar, E1000_TDH, 0);
    set_reg32(bar, E1000_TDT, 0);
    tx->next = tx->clean = 0;
    set_reg32(bar, E1000_TIPG, E1000_TIPG_VALUE);

    set_reg32(bar, E1000_RCTL, E1000_RCTL_VALUE);
    set_reg32(bar, E1000_TCTL, E1000_TCTL_VALUE);
    /* Hand all but one RX descriptor to the device (head == tail means empty). */
    set_reg32(bar, E1000_RDT, rx->size - 1);

    uint32_t rctl = get_reg32(bar, E1000_RCTL), tctl = get_reg32(bar, E1000_TCTL);
    if (rctl != E1000_RCTL_VALUE || tctl != E1000_TCTL_VALUE)
        return pmd_fail(EIO, "RCTL/TCTL read back 0x%08x/0x%08x, wrote 0x%08x/0x%08x", rctl, tctl,
                        E1000_RCTL_VALUE, E1000_TCTL_VALUE);
    port->started = 1;
    return 0;
}

/* Descriptors complete in order, and only those queued with RS report DD
 * (legacy_tx_burst sets it on a burst's last descriptor only: each DD costs the NIC a
 * descriptor write-back): a run of descriptors is done when the RS one ending it is. */
int legacy_tx_clean(struct pmd_port *port)
{
    struct pmd_ring_state *tx = &port->tx;
    volatile struct legacy_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next) {
        uint32_t last = tx->clean;
        while (!(td[last].cmd & E1000_TXD_CMD_RS)) {
            last = (last + 1) & mask;
            if (last == tx->next) /* no RS after clean: every burst ends with one, so not reached */
                return (int)((tx->next - tx->clean) & mask);
        }
        if (!(td[last].status & E1000_TXD_STAT_DD))
            break;
        tx->clean = (last + 1) & mask;
    }
    return (int)((tx->next - tx->clean) & mask);
}

/* One frame of len bytes at bus, end of packet, FCS appended; rs: report its status (DD). */
static void tx_put(struct legacy_tx_desc *d, uint64_t bus, uint32_t len, int rs)
{
    memset(d, 0, sizeof *d);
    d->addr = bus;
    d->length = (uint16_t)len;
    d->cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | (rs ? E1000_TXD_CMD_RS : 0);
}

int legacy_tx_burst(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx)
{
    struct pmd_ring_state *tx = &port->tx;
    struct legacy_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    uint32_t in_flight = (uint32_t)legacy_tx_clean(port);
    uint32_t free_slots = tx->size - 1 - in_flight;
    uint32_t n = 0;
    if (max > free_slots)
        max = free_slots;
    while (n < max) {
        uint32_t i = tx->next;
        uint32_t len = fill(ctx, tx->buf[i], PMD_BUF_SIZE);
        if (len == 0)
            break;
        tx_put(&td[i], tx->buf_bus[i], len, 0);
        tx->next = (i + 1) & mask;
        n++;
    }
    if (n) {
        td[(tx->next - 1) & mask].cmd |= E1000_TXD_CMD_RS; /* the burst's status: one write-back */
        set_reg32(port->regs, E1000_TDT, tx->next);         /* once per burst */
    }
    return (int)n;
}

int legacy_tx_raw(struct pmd_port *port, uint64_t bus, uint32_t len)
{
    struct pmd_ring_state *tx = &port->tx;
    struct legacy_tx_desc *td = tx->desc;
    uint32_t in_flight = (uint32_t)legacy_tx_clean(port);
    if (in_flight >= tx->size - 1)
        return pmd_fail(EBUSY, "TX ring full");
    uint32_t i = tx->next;
    tx_put(&td[i], bus, len, 1);
    tx->next = (i + 1) & (tx->size - 1);
    set_reg32(port->regs, E1000_TDT, tx->next);
    return (int)i;
}

int legacy_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    struct pmd_ring_state *rx = &port->rx;
    struct legacy_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    while (n < max) {
        uint32_t i = rx->next;
        volatile struct legacy_rx_desc *d = &rd[i];
        uint8_t status = d->status;
        if (!(status & E1000_RXD_STAT_DD))
            break;
        pmd_barrier(); /* read the descriptor before the data it describes */
        pmd_rx_deliver(port, rx->buf[i], d->length, status & E1000_RXD_STAT_EOP, d->errors, recv, ctx);
        d->addr = rx->buf_bus[i]; /* also undoes pmd_rx_point_next */
        d->status = 0;
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->regs, E1000_RDT, last); /* once per burst */
    return (int)n;
}

/* A frame in consecutive descriptors of PMD_BUF_SIZE bytes each, EOP on the last,
 * every one with RS so that each reports DD (legacy_tx_clean walks them in order). */
int legacy_tx_chain(struct pmd_port *port, const uint8_t *frame, uint32_t len)
{
    struct pmd_ring_state *tx = &port->tx;
    struct legacy_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    uint32_t need = (len + PMD_BUF_SIZE - 1) / PMD_BUF_SIZE;
    uint32_t in_flight = (uint32_t)legacy_tx_clean(port);
    if (need > tx->size - 1 - in_flight)
        return 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t i = tx->next, chunk = len - off < PMD_BUF_SIZE ? len - off : PMD_BUF_SIZE;
        memcpy(tx->buf[i], frame + off, chunk);
        tx_put(&td[i], tx->buf_bus[i], chunk, 1);
        off += chunk;
        if (off < len)
            td[i].cmd &= (uint8_t)~E1000_TXD_CMD_EOP;
        tx->next = (i + 1) & mask;
    }
    set_reg32(port->regs, E1000_TDT, tx->next);
    return 1;
}

/* The 8254x has no programmable limit: RCTL.LPE off takes 1522 bytes (1518 + a VLAN
 * tag), on takes long packets (up to E1000_MAX_LPE_FRAME on the 8254x); what this driver
 * promises then is the board's max_frame (the Linux driver's limit for the model).
 * Frames over the limit count in ROC. */
int legacy_set_max_frame(struct pmd_port *port, uint32_t max_frame, uint32_t *limit)
{
    volatile uint8_t *bar = port->regs;
    uint32_t rctl = get_reg32(bar, E1000_RCTL);
    if (max_frame > E1000_MAX_STD_FRAME) {
        rctl |= E1000_RCTL_LPE;
        *limit = port->board->max_frame;
    } else {
        rctl &= ~E1000_RCTL_LPE;
        *limit = E1000_MAX_STD_FRAME;
    }
    set_reg32(bar, E1000_RCTL, rctl);
    if (get_reg32(bar, E1000_RCTL) != rctl)
        return pmd_fail(EIO, "RCTL read back 0x%08x after writing 0x%08x (LPE)", get_reg32(bar, E1000_RCTL), rctl);
    return 0;
}

int legacy_rx_point_next(struct pmd_port *port, uint64_t bus)
{
    struct legacy_rx_desc *rd = port->rx.desc;
    volatile struct legacy_rx_desc *d = &rd[port->rx.next];
    if (d->status & E1000_RXD_STAT_DD)
        return pmd_fail(EBUSY, "the next RX descriptor is already complete: receive pending frames first");
    d->addr = bus;
    pmd_barrier();
    return 0;
}

/* The generic names (pmd.h) on these MACs; no clear-on-read registers. */
static const struct pmd_reg_map legacy_regs[] = {
    {"control", "CTRL", E1000_CTRL, -1},
    {"status", "STATUS", E1000_STATUS, -1},
    {"extended control", "CTRL_EXT", E1000_CTRL_EXT, -1},
    {"interrupt mask", "IMS", E1000_IMS, -1},
    {"rx control", "RCTL", E1000_RCTL, -1},
    {"tx control", "TCTL", E1000_TCTL, -1},
    {"tx inter-packet gap", "TIPG", E1000_TIPG, -1},
    {"rx ring base", "RDBAL/RDBAH", E1000_RDBAL, E1000_RDBAH},
    {"rx ring length", "RDLEN", E1000_RDLEN, -1},
    {"rx head", "RDH", E1000_RDH, -1},
    {"rx tail", "RDT", E1000_RDT, -1},
    {"tx ring base", "TDBAL/TDBAH", E1000_TDBAL, E1000_TDBAH},
    {"tx ring length", "TDLEN", E1000_TDLEN, -1},
    {"tx head", "TDH", E1000_TDH, -1},
    {"tx tail", "TDT", E1000_TDT, -1},
    {"rx checksum control", "RXCSUM", E1000_RXCSUM, -1},
    {NULL, NULL, 0, -1},
};

int legacy_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max)
{
    int n = pmd_dump_map(port, legacy_regs, out, max);
    if (n < 0)
        return n;
    uint32_t ral = get_reg32(port->regs, E1000_RAL0), rah = get_reg32(port->regs, E1000_RAH0);
    uint64_t mac = 0;
    for (int i = 0; i < 4; i++)
        mac = mac << 8 | ((ral >> (8 * i)) & 0xFF);
    mac = mac << 8 | (rah & 0xFF);
    mac = mac << 8 | ((rah >> 8) & 0xFF);
    if ((n = pmd_dump_put(out, max, (uint32_t)n, "mac address", "RAL0/RAH0", E1000_RAL0, mac)) < 0)
        return n;
    return pmd_dump_put(out, max, (uint32_t)n, "mac address valid", "RAH0.AV", E1000_RAH0, !!(rah & E1000_RAH_AV));
}
