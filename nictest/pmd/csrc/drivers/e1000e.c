/* e1000e.c - Intel 82574L (8086:10d3) with legacy descriptors, polled.
 * The same legacy rings work on the 8254x family; an 82540EM (e1000) driver
 * would be another file with its own ops table. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../internal.h"
#include "../regs.h"
#include "e1000e_regs.h"

#define RESET_TIMEOUT_MS 100
#define STOP_SETTLE_US 2000

static int e1000e_match(uint16_t vendor, uint16_t device)
{
    return vendor == 0x8086 && device == 0x10d3;
}

static int e1000e_read_mac(struct pmd_port *port, uint8_t mac[6])
{
    uint32_t ral = get_reg32(port->bar0, E1000_RAL0);
    uint32_t rah = get_reg32(port->bar0, E1000_RAH0);
    if (!(rah & E1000_RAH_AV))
        return pmd_fail(ENODATA, "RAH0 = 0x%08x: address-valid bit clear, no MAC programmed", rah);
    for (int i = 0; i < 4; i++)
        mac[i] = (uint8_t)(ral >> (8 * i));
    mac[4] = (uint8_t)rah;
    mac[5] = (uint8_t)(rah >> 8);
    return 0;
}

static int e1000e_link(struct pmd_port *port, int *up, uint32_t *status)
{
    uint32_t s = get_reg32(port->bar0, E1000_STATUS);
    if (status)
        *status = s;
    if (up)
        *up = !!(s & E1000_STATUS_LU);
    return 0;
}

static int e1000e_stop(struct pmd_port *port)
{
    volatile uint8_t *bar = port->bar0;
    set_reg32(bar, E1000_RCTL, get_reg32(bar, E1000_RCTL) & ~E1000_RCTL_EN);
    set_reg32(bar, E1000_TCTL, get_reg32(bar, E1000_TCTL) & ~E1000_TCTL_EN);
    (void)get_reg32(bar, E1000_STATUS); /* flush posted writes */
    /* The 82574L has no "queue stopped" bit for ring 0: give in-flight
     * descriptor fetches a bounded moment to drain. */
    struct timespec settle = {0, STOP_SETTLE_US * 1000};
    nanosleep(&settle, NULL);
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    port->started = 0;
    return 0;
}

static int e1000e_reset(struct pmd_port *port)
{
    volatile uint8_t *bar = port->bar0;
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    set_reg32(bar, E1000_CTRL, get_reg32(bar, E1000_CTRL) | E1000_CTRL_RST);
    /* RST self-clears; bounded wait (the datasheet asks for >= 1 us before access). */
    int rc = wait_reg32(bar, E1000_CTRL, E1000_CTRL_RST, 0, RESET_TIMEOUT_MS);
    if (rc < 0)
        return pmd_fail(ETIMEDOUT, "CTRL.RST did not clear within %d ms", RESET_TIMEOUT_MS);
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    (void)get_reg32(bar, E1000_ICR);
    return 0;
}

static int e1000e_init(struct pmd_port *port)
{
    volatile uint8_t *bar = port->bar0;
    struct pmd_ring_state *rx = &port->rx, *tx = &port->tx;

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
    /* Legacy descriptors, plain checksum field, no delay timers. */
    set_reg32(bar, E1000_RFCTL, 0);
    set_reg32(bar, E1000_RXCSUM, 0);
    set_reg32(bar, E1000_RDTR, 0);
    set_reg32(bar, E1000_RADV, 0);
    set_reg32(bar, E1000_TIDV, 0);
    set_reg32(bar, E1000_TADV, 0);

    /* RX ring 0: every descriptor owns its buffer. */
    struct pmd_e1000_rx_desc *rd = rx->desc;
    for (uint32_t i = 0; i < rx->size; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].addr = rx->buf_bus[i];
    }
    set_reg32(bar, E1000_RDBAL, (uint32_t)rx->desc_bus);
    set_reg32(bar, E1000_RDBAH, (uint32_t)(rx->desc_bus >> 32));
    set_reg32(bar, E1000_RDLEN, rx->size * (uint32_t)sizeof(struct pmd_e1000_rx_desc));
    set_reg32(bar, E1000_RDH, 0);
    set_reg32(bar, E1000_RDT, 0);
    rx->next = 0;

    /* TX ring 0: empty. */
    memset(tx->desc, 0, tx->size * sizeof(struct pmd_e1000_tx_desc));
    set_reg32(bar, E1000_TDBAL, (uint32_t)tx->desc_bus);
    set_reg32(bar, E1000_TDBAH, (uint32_t)(tx->desc_bus >> 32));
    set_reg32(bar, E1000_TDLEN, tx->size * (uint32_t)sizeof(struct pmd_e1000_tx_desc));
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

static int e1000e_tx_clean(struct pmd_port *port)
{
    struct pmd_ring_state *tx = &port->tx;
    struct pmd_e1000_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next) {
        if (!(((volatile struct pmd_e1000_tx_desc *)&td[tx->clean])->status & E1000_TXD_STAT_DD))
            break;
        tx->clean = (tx->clean + 1) & mask;
    }
    return (int)((tx->next - tx->clean) & mask);
}

static int e1000e_tx_burst(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx)
{
    struct pmd_ring_state *tx = &port->tx;
    struct pmd_e1000_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    uint32_t in_flight = (uint32_t)e1000e_tx_clean(port);
    uint32_t free_slots = tx->size - 1 - in_flight;
    uint32_t n = 0;
    if (max > free_slots)
        max = free_slots;
    while (n < max) {
        uint32_t i = tx->next;
        uint32_t len = fill(ctx, tx->buf[i], PMD_BUF_SIZE);
        if (len == 0)
            break;
        td[i].addr = tx->buf_bus[i];
        td[i].length = (uint16_t)len;
        td[i].cso = 0;
        td[i].css = 0;
        td[i].special = 0;
        td[i].status = 0;
        td[i].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
        tx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->bar0, E1000_TDT, tx->next); /* once per burst */
    return (int)n;
}

static int e1000e_tx_raw(struct pmd_port *port, uint64_t bus, uint32_t len)
{
    struct pmd_ring_state *tx = &port->tx;
    struct pmd_e1000_tx_desc *td = tx->desc;
    uint32_t in_flight = (uint32_t)e1000e_tx_clean(port);
    if (in_flight >= tx->size - 1)
        return pmd_fail(EBUSY, "TX ring full");
    uint32_t i = tx->next;
    memset(&td[i], 0, sizeof td[i]);
    td[i].addr = bus;
    td[i].length = (uint16_t)len;
    td[i].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
    tx->next = (i + 1) & (tx->size - 1);
    set_reg32(port->bar0, E1000_TDT, tx->next);
    return (int)i;
}

static int e1000e_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    struct pmd_ring_state *rx = &port->rx;
    struct pmd_e1000_rx_desc *rd = rx->desc;
    uint32_t mask = rx->size - 1, n = 0, last = 0;
    while (n < max) {
        uint32_t i = rx->next;
        volatile struct pmd_e1000_rx_desc *d = &rd[i];
        uint8_t status = d->status;
        if (!(status & E1000_RXD_STAT_DD))
            break;
        pmd_barrier(); /* read the descriptor before the data it describes */
        uint8_t errors = d->errors;
        if (!(status & E1000_RXD_STAT_EOP))
            errors |= 0x80; /* a frame over 2 KiB spanning descriptors: not ours */
        recv(ctx, rx->buf[i], d->length, errors);
        d->addr = rx->buf_bus[i]; /* also undoes pmd_rx_point_next */
        d->status = 0;
        last = i;
        rx->next = (i + 1) & mask;
        n++;
    }
    if (n)
        set_reg32(port->bar0, E1000_RDT, last); /* once per burst */
    return (int)n;
}

static int e1000e_rx_point_next(struct pmd_port *port, uint64_t bus)
{
    struct pmd_e1000_rx_desc *rd = port->rx.desc;
    volatile struct pmd_e1000_rx_desc *d = &rd[port->rx.next];
    if (d->status & E1000_RXD_STAT_DD)
        return pmd_fail(EBUSY, "the next RX descriptor is already complete: receive pending frames first");
    d->addr = bus;
    pmd_barrier();
    return 0;
}

static int e1000e_read_stats(struct pmd_port *port, struct pmd_stats *acc)
{
    volatile uint8_t *bar = port->bar0;
    acc->crc_errors += get_reg32(bar, E1000_CRCERRS);
    acc->rx_missed += get_reg32(bar, E1000_MPC);
    acc->rx_no_buffer += get_reg32(bar, E1000_RNBC);
    acc->rx_packets += get_reg32(bar, E1000_GPRC);
    acc->tx_packets += get_reg32(bar, E1000_GPTC);
    uint64_t lo = get_reg32(bar, E1000_GORCL);
    acc->rx_bytes += lo | ((uint64_t)get_reg32(bar, E1000_GORCH) << 32);
    lo = get_reg32(bar, E1000_GOTCL);
    acc->tx_bytes += lo | ((uint64_t)get_reg32(bar, E1000_GOTCH) << 32);
    return 0;
}

/* Registers a dump may read: no clear-on-read ones (ICR, statistics). */
static const struct pmd_named_reg e1000e_dump[] = {
    {"CTRL", E1000_CTRL, 0},   {"STATUS", E1000_STATUS, 0}, {"CTRL_EXT", E1000_CTRL_EXT, 0},
    {"IMS", E1000_IMS, 0},     {"RCTL", E1000_RCTL, 0},     {"TCTL", E1000_TCTL, 0},
    {"TIPG", E1000_TIPG, 0},   {"RDBAL", E1000_RDBAL, 0},   {"RDBAH", E1000_RDBAH, 0},
    {"RDLEN", E1000_RDLEN, 0}, {"RDH", E1000_RDH, 0},       {"RDT", E1000_RDT, 0},
    {"TDBAL", E1000_TDBAL, 0}, {"TDBAH", E1000_TDBAH, 0},   {"TDLEN", E1000_TDLEN, 0},
    {"TDH", E1000_TDH, 0},     {"TDT", E1000_TDT, 0},       {"RXCSUM", E1000_RXCSUM, 0},
    {"RFCTL", E1000_RFCTL, 0}, {"RAL0", E1000_RAL0, 0},     {"RAH0", E1000_RAH0, 0},
    {"", 0, 0},
};

const struct pmd_driver_ops pmd_e1000e_ops = {
    .name = "e1000e",
    .match = e1000e_match,
    .init = e1000e_init,
    .stop = e1000e_stop,
    .reset = e1000e_reset,
    .read_mac = e1000e_read_mac,
    .link = e1000e_link,
    .tx_burst = e1000e_tx_burst,
    .tx_clean = e1000e_tx_clean,
    .rx_burst = e1000e_rx_burst,
    .read_stats = e1000e_read_stats,
    .rx_point_next = e1000e_rx_point_next,
    .tx_raw = e1000e_tx_raw,
    .dump_regs = e1000e_dump,
};
