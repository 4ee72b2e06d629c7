/* igb.c - Intel 82576 (8086:10c9) with advanced descriptors, queue 0, polled.
 * Bring-up follows the 82576 datasheet's receive/transmit initialization: program
 * a ring, set its RXDCTL/TXDCTL enable bit, enable RCTL/TCTL, poll the queue's
 * enable bit until it reads 1, and only then bump the tail. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../internal.h"
#include "../regs.h"
#include "e1000_family.h"
#include "igb_family.h"
#include "igb_regs.h"
#include "igb_queues.h"
#include "igb_offload.h"

#define RESET_TIMEOUT_MS 100
#define QUEUE_TIMEOUT_MS 100   /* RXDCTL/TXDCTL enable bit to follow a write */
#define MDIC_TIMEOUT_MS 10
#define LINK_TIMEOUT_MS 3000   /* auto-negotiation: QEMU's takes 500 ms of guest time */
#define RESET_SETTLE_US 1000   /* datasheet 4.2.1.6.1: >= 1 ms before using the device */

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

/* Clear a queue's enable bit and wait until the device reports the queue stopped. */
static int queue_disable(volatile uint8_t *bar, uint32_t reg, uint32_t bit, const char *name, uint32_t queue)
{
    set_reg32(bar, reg, get_reg32(bar, reg) & ~bit);
    if (wait_reg32(bar, reg, bit, 0, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s%u enable bit still set %d ms after clearing it (0x%08x)", name, queue,
                        QUEUE_TIMEOUT_MS, get_reg32(bar, reg));
    return 0;
}

static int igb_stop(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    /* Queue first (the device finishes the descriptor it is on), then the unit. */
    int rc_rx = queue_disable(bar, IGB_RXDCTL(0), IGB_RXDCTL_ENABLE, "RXDCTL", 0);
    set_reg32(bar, IGB_RCTL, get_reg32(bar, IGB_RCTL) & ~IGB_RCTL_EN);
    int rc_tx = queue_disable(bar, IGB_TXDCTL(0), IGB_TXDCTL_ENABLE, "TXDCTL", 0);
    set_reg32(bar, IGB_TCTL, get_reg32(bar, IGB_TCTL) & ~IGB_TCTL_EN);
    for (uint32_t q = 1; port->queues && q < IGB_NUM_QUEUES; q++) { /* igb_queues.c's queues */
        int rc_q = queue_disable(bar, IGB_RXDCTL(q), IGB_RXDCTL_ENABLE, "RXDCTL", q);
        if (rc_q == 0)
            rc_q = queue_disable(bar, IGB_TXDCTL(q), IGB_TXDCTL_ENABLE, "TXDCTL", q);
        if (rc_q < 0 && rc_rx == 0)
            rc_rx = rc_q;
    }
    set_reg32(bar, IGB_IMC, 0xFFFFFFFFu);
    set_reg32(bar, IGB_EIMC, 0xFFFFFFFFu);
    (void)get_reg32(bar, IGB_STATUS); /* flush posted writes */
    port->started = 0;
    return rc_rx < 0 ? rc_rx : rc_tx;
}

static void mask_interrupts(volatile uint8_t *bar)
{
    set_reg32(bar, IGB_IMC, 0xFFFFFFFFu);
    set_reg32(bar, IGB_EIMC, 0xFFFFFFFFu);
    set_reg32(bar, IGB_EIAC, 0);
    set_reg32(bar, IGB_GPIE, 0);
    (void)get_reg32(bar, IGB_ICR);
}

static int igb_reset(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    mask_interrupts(bar);
    set_reg32(bar, IGB_CTRL, get_reg32(bar, IGB_CTRL) | IGB_CTRL_RST);
    sleep_us(RESET_SETTLE_US);
    if (wait_reg32(bar, IGB_CTRL, IGB_CTRL_RST, 0, RESET_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "CTRL.RST did not clear within %d ms", RESET_TIMEOUT_MS);
    mask_interrupts(bar);
    return 0;
}

static int phy_write(volatile uint8_t *bar, uint32_t reg, uint16_t value)
{
    set_reg32(bar, IGB_MDIC, value | reg << IGB_MDIC_REG_SHIFT | IGB_MDIC_PHY_ADDR << IGB_MDIC_PHY_SHIFT |
                                 IGB_MDIC_OP_WRITE);
    if (wait_reg32(bar, IGB_MDIC, IGB_MDIC_READY, IGB_MDIC_READY, MDIC_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "MDIC write of PHY register %u not ready within %d ms", reg, MDIC_TIMEOUT_MS);
    if (get_reg32(bar, IGB_MDIC) & IGB_MDIC_ERROR)
        return pmd_fail(EIO, "MDIC write of PHY register %u: the PHY reported an error", reg);
    return 0;
}

/* Copper link as Linux's igb sets it: MAC follows the PHY (SLU, no forcing). After a
 * CTRL.RST or function reset QEMU keeps the link down until auto-negotiation is
 * restarted, so restart it when the link is down (never when it is up: that would
 * drop a working link). A link that stays down is not an error here: pmd_port_link
 * reports it. */
static int link_up(volatile uint8_t *bar)
{
    uint32_t ctrl = get_reg32(bar, IGB_CTRL);
    set_reg32(bar, IGB_CTRL, (ctrl | IGB_CTRL_SLU) & ~(IGB_CTRL_FRCSPD | IGB_CTRL_FRCDPX | IGB_CTRL_RST));
    if (get_reg32(bar, IGB_STATUS) & IGB_STATUS_LU)
        return 0;
    int rc = phy_write(bar, IGB_PHY_BMCR,
                       IGB_BMCR_ANENABLE | IGB_BMCR_ANRESTART | IGB_BMCR_SPEED1000 | IGB_BMCR_FULL_DUPLEX);
    if (rc < 0)
        return rc;
    (void)wait_reg32(bar, IGB_STATUS, IGB_STATUS_LU, IGB_STATUS_LU, LINK_TIMEOUT_MS);
    return 0;
}

static int igb_init(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct pmd_ring_state *rx = &port->rx;
    int rc;

    mask_interrupts(bar);
    /* Rings off while they are (re)programmed; queue 0 only: a queue the kernel driver
     * left enabled would still own its old ring (stale IOVAs) and take frames. */
    if ((rc = igb_stop(port)) < 0)
        return rc;
    for (uint32_t q = 1; q < IGB_NUM_QUEUES; q++) {
        if ((rc = queue_disable(bar, IGB_RXDCTL(q), IGB_RXDCTL_ENABLE, "RXDCTL", q)) < 0 ||
            (rc = queue_disable(bar, IGB_TXDCTL(q), IGB_TXDCTL_ENABLE, "TXDCTL", q)) < 0)
            return rc;
    }
    set_reg32(bar, IGB_RCTL, 0);
    set_reg32(bar, IGB_TCTL, 0);
    set_reg32(bar, IGB_CTRL_EXT, get_reg32(bar, IGB_CTRL_EXT) | IGB_CTRL_EXT_DRV_LOAD);
    /* A DMA read the IOMMU refused is not re-sent forever (isolation tests do that on purpose). */
    set_reg32(bar, IGB_GCR, get_reg32(bar, IGB_GCR) & ~IGB_GCR_CMPL_TMOUT_RESEND);
    if ((rc = link_up(bar)) < 0)
        return rc;
    /* One queue, no RSS / VMDq, no checksum offload: frames land in queue 0 as they came. */
    set_reg32(bar, IGB_MRQC, 0);
    set_reg32(bar, IGB_RXCSUM, 0);
    igb_offload_reset(bar); /* no VLAN stripping/filter (CTRL.VME, VFTA): what a previous user set */

    /* Queue 0: advanced one-buffer descriptors, each owning a 2 KiB buffer; TX empty. */
    igb_family_rings_program(port, IGB_RDBAL(0), IGB_TDBAL(0));
    set_reg32(bar, IGB_RXDCTL(0), IGB_RXDCTL_ENABLE | 1u << IGB_RXDCTL_WTHRESH_SHIFT);
    set_reg32(bar, IGB_TXDCTL(0), IGB_TXDCTL_ENABLE);

    /* The queue enable bits read 0 until the units are on (datasheet 8.10.10 / 8.12.13). */
    set_reg32(bar, IGB_RCTL, IGB_RCTL_VALUE);
    set_reg32(bar, IGB_TCTL, (get_reg32(bar, IGB_TCTL) & ~IGB_TCTL_MASK) | IGB_TCTL_VALUE);
    if (wait_reg32(bar, IGB_RXDCTL(0), IGB_RXDCTL_ENABLE, IGB_RXDCTL_ENABLE, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "RXDCTL0 = 0x%08x: queue 0 not enabled %d ms after RCTL.EN",
                        get_reg32(bar, IGB_RXDCTL(0)), QUEUE_TIMEOUT_MS);
    if (wait_reg32(bar, IGB_TXDCTL(0), IGB_TXDCTL_ENABLE, IGB_TXDCTL_ENABLE, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "TXDCTL0 = 0x%08x: queue 0 not enabled %d ms after TCTL.EN",
                        get_reg32(bar, IGB_TXDCTL(0)), QUEUE_TIMEOUT_MS);
    /* Only now the tail: all but one RX descriptor to the device (head == tail means empty). */
    set_reg32(bar, IGB_RDT(0), rx->size - 1);

    uint32_t rctl = get_reg32(bar, IGB_RCTL), tctl = get_reg32(bar, IGB_TCTL);
    if (rctl != IGB_RCTL_VALUE || (tctl & IGB_TCTL_MASK) != IGB_TCTL_VALUE)
        return pmd_fail(EIO, "RCTL/TCTL read back 0x%08x/0x%08x, wrote 0x%08x/0x%08x", rctl, tctl,
                        IGB_RCTL_VALUE, IGB_TCTL_VALUE);
    if ((rc = igb_queues_apply(port)) < 0) /* several queues, RSS: as configured (none: nothing) */
        return rc;
    port->started = 1;
    return 0;
}

/* After igb_stop: everything as it was; the rings restart empty. Filter entries, the
 * multicast table and RSS are kept by the registers or re-applied; RCTL's filter mode and
 * long-packet bits (which igb_init rewrites) are carried over. */
#define IGB_RCTL_KEEP (IGB_RCTL_UPE | IGB_RCTL_MPE | IGB_RCTL_BAM | IGB_RCTL_LPE)
static int igb_start(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    uint32_t keep = get_reg32(bar, IGB_RCTL) & IGB_RCTL_KEEP;
    int rc = igb_init(port);
    if (rc < 0)
        return rc;
    set_reg32(bar, IGB_RCTL, (get_reg32(bar, IGB_RCTL) & ~IGB_RCTL_KEEP) | keep);
    return 0;
}

/* The rings are igb_family.c's; queue 0's tails are the PF's. */
static int igb_tx_burst(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx)
{
    return igb_family_tx_burst(port, IGB_TDT(0), max, fill, ctx);
}

static int igb_tx_raw(struct pmd_port *port, uint64_t bus, uint32_t len)
{
    return igb_family_tx_raw(port, IGB_TDT(0), bus, len);
}

static int igb_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    return igb_family_rx_burst(port, IGB_RDT(0), max, recv, ctx);
}

/* A frame in consecutive data descriptors of PMD_BUF_SIZE bytes, PAYLEN (the whole
 * frame) in the first, EOP on the last, RS on each so each reports DD. */
static int igb_tx_chain(struct pmd_port *port, const uint8_t *frame, uint32_t len)
{
    struct pmd_ring_state *tx = &port->tx;
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    uint32_t need = (len + PMD_BUF_SIZE - 1) / PMD_BUF_SIZE;
    uint32_t in_flight = (uint32_t)igb_offload_tx_clean(port);
    if (need > tx->size - 1 - in_flight)
        return 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t i = tx->next, chunk = len - off < PMD_BUF_SIZE ? len - off : PMD_BUF_SIZE;
        memcpy(tx->buf[i], frame + off, chunk);
        td[i].read.buffer_addr = tx->buf_bus[i];
        td[i].read.olinfo_status = off == 0 ? len << IGB_ADVTXD_PAYLEN_SHIFT : 0;
        off += chunk;
        td[i].read.cmd_type_len = chunk | IGB_ADVTXD_DTYP_DATA | IGB_ADVTXD_DCMD_DEXT | IGB_ADVTXD_DCMD_IFCS |
                                  IGB_ADVTXD_DCMD_RS | (off == len ? IGB_ADVTXD_DCMD_EOP : 0);
        tx->next = (i + 1) & mask;
    }
    set_reg32(port->regs, IGB_TDT(0), tx->next);
    return 1;
}

/* RCTL.LPE with RLPML = max_frame: the 82576 drops (and counts in ROC) what is longer. */
static int igb_set_max_frame(struct pmd_port *port, uint32_t max_frame, uint32_t *limit)
{
    volatile uint8_t *bar = port->regs;
    uint32_t rctl = get_reg32(bar, IGB_RCTL);
    if (max_frame > IGB_MAX_STD_FRAME) {
        set_reg32(bar, IGB_RLPML, max_frame & IGB_RLPML_MASK);
        rctl |= IGB_RCTL_LPE;
        *limit = max_frame;
    } else {
        rctl &= ~IGB_RCTL_LPE;
        *limit = IGB_MAX_STD_FRAME;
    }
    set_reg32(bar, IGB_RCTL, rctl);
    uint32_t back = get_reg32(bar, IGB_RCTL), rlpml = get_reg32(bar, IGB_RLPML);
    if (back != rctl || (max_frame > IGB_MAX_STD_FRAME && (rlpml & IGB_RLPML_MASK) != max_frame))
        return pmd_fail(EIO, "RCTL/RLPML read back 0x%08x/%u after writing 0x%08x/%u", back, rlpml, rctl, max_frame);
    return 0;
}

/* The generic names (pmd.h) on the 82576, queue 0; no clear-on-read registers. */
static const struct pmd_reg_map igb_regs[] = {
    {"control", "CTRL", IGB_CTRL, -1},
    {"status", "STATUS", IGB_STATUS, -1},
    {"extended control", "CTRL_EXT", IGB_CTRL_EXT, -1},
    {"interrupt mask", "IMS", IGB_IMS, -1},
    {"extended interrupt mask", "EIMS", IGB_EIMS, -1},
    {"pcie control", "GCR", IGB_GCR, -1},
    {"rx control", "RCTL", IGB_RCTL, -1},
    {"tx control", "TCTL", IGB_TCTL, -1},
    {"multiple rx queues", "MRQC", IGB_MRQC, -1},
    {"rx checksum control", "RXCSUM", IGB_RXCSUM, -1},
    {"rx ring base", "RDBAL0/RDBAH0", IGB_RDBAL(0), IGB_RDBAH(0)},
    {"rx ring length", "RDLEN0", IGB_RDLEN(0), -1},
    {"rx buffer control", "SRRCTL0", IGB_SRRCTL(0), -1},
    {"rx head", "RDH0", IGB_RDH(0), -1},
    {"rx tail", "RDT0", IGB_RDT(0), -1},
    {"rx queue control", "RXDCTL0", IGB_RXDCTL(0), -1},
    {"tx ring base", "TDBAL0/TDBAH0", IGB_TDBAL(0), IGB_TDBAH(0)},
    {"tx ring length", "TDLEN0", IGB_TDLEN(0), -1},
    {"tx head", "TDH0", IGB_TDH(0), -1},
    {"tx tail", "TDT0", IGB_TDT(0), -1},
    {"tx queue control", "TXDCTL0", IGB_TXDCTL(0), -1},
    {"tx head write-back", "TDWBAL0/TDWBAH0", IGB_TDWBAL(0), IGB_TDWBAH(0)},
    {NULL, NULL, 0, -1},
};

static int igb_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max)
{
    int n = pmd_dump_map(port, igb_regs, out, max);
    if (n < 0)
        return n;
    uint32_t ral = get_reg32(port->regs, IGB_RAL0), rah = get_reg32(port->regs, IGB_RAH0);
    uint64_t mac = 0;
    for (int i = 0; i < 4; i++)
        mac = mac << 8 | ((ral >> (8 * i)) & 0xFF);
    mac = mac << 8 | (rah & 0xFF);
    mac = mac << 8 | ((rah >> 8) & 0xFF);
    if ((n = pmd_dump_put(out, max, (uint32_t)n, "mac address", "RAL0/RAH0", IGB_RAL0, mac)) < 0)
        return n;
    return pmd_dump_put(out, max, (uint32_t)n, "mac address valid", "RAH0.AV", IGB_RAH0, !!(rah & IGB_RAH_AV));
}

/* ---- interrupts (MSI-X mode, datasheet 7.3) ----
 * GPIE.Multiple_MSIX: EICR bit n is MSI-X vector n. IVAR0 bits 7:0 give RX queue 0 its
 * vector, IVAR_MISC bits 15:8 the "other" causes (ICR: link status change); EIAC clears a
 * vector's EICR bit once its message is sent, so the next completion raises it again;
 * no auto mask (EIAM 0, GPIE.EIAME 0): masking is EIMC/EIMS only. */
#define IGB_IRQ_MASK_WORD 7   /* driver_state: the EIMS bits enabled by igb_irq_enable */

static int igb_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector)
{
    volatile uint8_t *bar = port->regs;
    if (rx_vector >= port->board->msix_vectors || other_vector >= port->board->msix_vectors)
        return pmd_fail(EINVAL, "vectors %u/%u: the 82576 has %u MSI-X vectors", rx_vector, other_vector,
                        port->board->msix_vectors);
    uint32_t mask = 1u << rx_vector | 1u << other_vector;
    set_reg32(bar, IGB_EIMC, 0xFFFFFFFFu);
    set_reg32(bar, IGB_GPIE, IGB_GPIE_MSIX_MODE | IGB_GPIE_PBA | IGB_GPIE_NSICR);
    set_reg32(bar, IGB_IVAR0, (get_reg32(bar, IGB_IVAR0) & ~0xFFu) | IGB_IVAR_VALID | rx_vector);
    set_reg32(bar, IGB_IVAR_MISC, (get_reg32(bar, IGB_IVAR_MISC) & ~(0xFFu << IGB_IVAR_MISC_OTHER_SHIFT)) |
                                      (IGB_IVAR_VALID | other_vector) << IGB_IVAR_MISC_OTHER_SHIFT);
    set_reg32(bar, IGB_EITR(rx_vector), 0);
    set_reg32(bar, IGB_EITR(other_vector), 0);
    set_reg32(bar, IGB_EIAC, mask);
    set_reg32(bar, IGB_EIAM, 0);
    set_reg32(bar, IGB_EICR, 0xFFFFFFFFu);     /* nothing stale pending */
    (void)get_reg32(bar, IGB_ICR);
    set_reg32(bar, IGB_IMS, IGB_ICR_LSC);
    set_reg32(bar, IGB_EIMS, mask);
    port->driver_state[IGB_IRQ_MASK_WORD] = mask;
    uint32_t gpie = get_reg32(bar, IGB_GPIE), eims = get_reg32(bar, IGB_EIMS);
    if (!(gpie & IGB_GPIE_MSIX_MODE) || (eims & mask) != mask)
        return pmd_fail(EIO, "GPIE/EIMS read back 0x%08x/0x%08x after enabling vectors 0x%x in MSI-X mode", gpie,
                        eims, mask);
    return 0;
}

static int igb_irq_mask(struct pmd_port *port, int masked)
{
    uint32_t mask = (uint32_t)port->driver_state[IGB_IRQ_MASK_WORD];
    set_reg32(port->regs, masked ? IGB_EIMC : IGB_EIMS, mask);
    (void)get_reg32(port->regs, IGB_STATUS); /* flush */
    return 0;
}

static int igb_irq_ack(struct pmd_port *port, uint32_t *causes)
{
    *causes = get_reg32(port->regs, IGB_ICR);
    return 0;
}

static void igb_irq_disable(struct pmd_port *port)
{
    mask_interrupts(port->regs);
    port->driver_state[IGB_IRQ_MASK_WORD] = 0;
}

static const struct pmd_driver_ops igb_ops = {
    .name = "igb",
    .rx_desc_size = sizeof(union igb_adv_rx_desc),
    .tx_desc_size = sizeof(union igb_adv_tx_desc),
    .ring_align = 128, /* RDLEN/TDLEN: multiples of 128 bytes */
    .ring_max = 4096,
    .init = igb_init,
    .stop = igb_stop,
    .reset = igb_reset,
    E1000_FAMILY_FILTER_OPS,
    .tx_burst = igb_tx_burst,
    .tx_clean = igb_offload_tx_clean, /* igb_family_tx_clean that also reaps context descriptors */
    .rx_burst = igb_rx_burst,
    .rx_point_next = igb_family_rx_point_next,
    .tx_raw = igb_tx_raw,
    .dump = igb_dump,
    .tx_chain = igb_tx_chain,
    .set_max_frame = igb_set_max_frame,
    .queues_apply = igb_queues_apply,
    .rx_queue_enable = igb_rx_queue_enable,
    .rx_queue_burst = igb_rx_queue_burst,
    .tx_queue_frame = igb_tx_queue_frame,
    .start = igb_start,
    IGB_OFFLOAD_OPS,
    .irq_enable = igb_irq_enable,
    .irq_mask = igb_irq_mask,
    .irq_ack = igb_irq_ack,
    .irq_disable = igb_irq_disable,
};

/* Linux igb, 82576: 16 RX/TX queues, MSI-X with 10 vectors, jumbo frames up to
 * MAX_JUMBO_FRAME_SIZE 0x2600 (9728). */
const struct pmd_board pmd_board_igb_82576 = {
    .ops = &igb_ops,
    .desc_format = PMD_DESC_ADVANCED,
    .reg_bar = 0,
    .max_frame = 9728,
    .rx_queues = IGB_NUM_QUEUES,
    .tx_queues = IGB_NUM_QUEUES,
    .msix_vectors = 10,
    .resets = 1u << PMD_RESET_NONE | 1u << PMD_RESET_DEVICE,
    .flags = PMD_BOARD_HAS_MSI | PMD_BOARD_HAS_MSIX | PMD_BOARD_PCIE | PMD_BOARD_HAS_JUMBO,
    .mac_filters = 24,       /* RAL/RAH[0-15] and [16-23] (Linux E1000_RAR_ENTRIES_82576) */
    .features = "mtu stats filters reset vlan checksum rss queue_control interrupts link",
};
