/* e1000e.c - Intel 82574L (Linux's e1000e) with legacy descriptors, polled.
 * The rings are legacy.c's (the 82574L keeps the 8254x legacy ring registers);
 * what is this MAC's own: RFCTL, and its board facts. */
#include "../internal.h"
#include "../regs.h"
#include "e1000e_regs.h"
#include "legacy.h"
#include "legacy_offload.h"
#include "e1000e_queues.h"

static int e1000e_init(struct pmd_port *port)
{
    legacy_quiesce(port);
    set_reg32(port->regs, E1000_RFCTL, 0); /* legacy, not extended, RX descriptors */
    set_reg32(port->regs, E1000_MRQC, 0);  /* one queue, no RSS: what a previous user set */
    port->driver_state[E1000E_EXT_RX_WORD] = 0;
    port->driver_state[E1000E_TX_UP_WORD] = 0;
    return legacy_rings_start(port);
}

/* Queue 0 receives through legacy.c until the queues are set up (extended descriptors). */
static int e1000e_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    if (port->driver_state[E1000E_EXT_RX_WORD])
        return e1000e_ext_rx_burst(port, max, recv, ctx);
    return legacy_rx_burst(port, max, recv, ctx);
}

static int e1000e_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max)
{
    int n = legacy_dump(port, out, max);
    if (n < 0)
        return n;
    return pmd_dump_put(out, max, (uint32_t)n, "rx filter control", "RFCTL", E1000_RFCTL,
                        get_reg32(port->regs, E1000_RFCTL));
}

/* ---- interrupts (MSI-X, datasheet 7.4.2) ----
 * IVAR gives RX queue 0 and the "other" causes (LSC among them) their vectors; EIAC
 * auto-clears those ICR bits when a message goes out and, CTRL_EXT.IAME being clear,
 * masks the cause in IMS as well (as Linux's e1000e runs it): irq_ack re-arms. */
#define E1000E_IRQ_IMS_WORD 0   /* driver_state: the IMS bits irq_enable armed (0: off) */
#define E1000E_IRQ_MASKED_WORD 1 /* driver_state: 1 while irq_mask holds them off */

static int e1000e_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector)
{
    volatile uint8_t *bar = port->regs;
    if (rx_vector >= port->board->msix_vectors || other_vector >= port->board->msix_vectors)
        return pmd_fail(EINVAL, "vectors %u/%u: the 82574L has %u MSI-X vectors", rx_vector, other_vector,
                        port->board->msix_vectors);
    uint32_t ims = E1000_ICR_RXQ0 | E1000_ICR_OTHER | E1000_ICR_LSC;
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    set_reg32(bar, E1000_IVAR, (E1000_IVAR_VALID | rx_vector) << E1000_IVAR_RXQ0_SHIFT |
                                   (E1000_IVAR_VALID | other_vector) << E1000_IVAR_OTHER_SHIFT);
    set_reg32(bar, E1000_EITR_82574(rx_vector), 0);
    set_reg32(bar, E1000_EITR_82574(other_vector), 0);
    set_reg32(bar, E1000_CTRL_EXT, get_reg32(bar, E1000_CTRL_EXT) | E1000_CTRL_EXT_PBA_CLR);
    set_reg32(bar, E1000_EIAC_82574, E1000_ICR_RXQ0 | E1000_ICR_OTHER);
    (void)get_reg32(bar, E1000_ICR); /* nothing stale pending */
    set_reg32(bar, E1000_IMS, ims);
    port->driver_state[E1000E_IRQ_IMS_WORD] = ims;
    port->driver_state[E1000E_IRQ_MASKED_WORD] = 0;
    uint32_t back = get_reg32(bar, E1000_IMS), ivar = get_reg32(bar, E1000_IVAR);
    if ((back & ims) != ims || (ivar & 0xF) != (E1000_IVAR_VALID | rx_vector))
        return pmd_fail(EIO, "IMS/IVAR read back 0x%08x/0x%08x after routing RX queue 0 to vector %u and other "
                             "causes to %u", back, ivar, rx_vector, other_vector);
    return 0;
}

static int e1000e_irq_mask(struct pmd_port *port, int masked)
{
    uint32_t ims = (uint32_t)port->driver_state[E1000E_IRQ_IMS_WORD];
    port->driver_state[E1000E_IRQ_MASKED_WORD] = !!masked;
    set_reg32(port->regs, masked ? E1000_IMC : E1000_IMS, ims);
    (void)get_reg32(port->regs, E1000_STATUS); /* flush */
    return 0;
}

static int e1000e_irq_ack(struct pmd_port *port, uint32_t *causes)
{
    *causes = get_reg32(port->regs, E1000_ICR);
    if (!port->driver_state[E1000E_IRQ_MASKED_WORD]) /* re-arm what the auto-mask took */
        set_reg32(port->regs, E1000_IMS, (uint32_t)port->driver_state[E1000E_IRQ_IMS_WORD]);
    return 0;
}

static void e1000e_irq_disable(struct pmd_port *port)
{
    set_reg32(port->regs, E1000_IMC, 0xFFFFFFFFu);
    set_reg32(port->regs, E1000_EIAC_82574, 0);
    (void)get_reg32(port->regs, E1000_ICR);
    port->driver_state[E1000E_IRQ_IMS_WORD] = 0;
    port->driver_state[E1000E_IRQ_MASKED_WORD] = 0;
}

static const struct pmd_driver_ops e1000e_ops = {
    .name = "e1000e",
    LEGACY_RING_OPS_TX_AND_CONTROL,
    .init = e1000e_init,
    .rx_burst = e1000e_rx_burst,
    .queues_apply = e1000e_queues_apply,
    .rx_queue_burst = e1000e_rx_queue_burst,
    .tx_queue_frame = e1000e_tx_queue_frame,
    .dump = e1000e_dump,
    LEGACY_OFFLOAD_OPS,
    .irq_enable = e1000e_irq_enable,
    .irq_mask = e1000e_irq_mask,
    .irq_ack = e1000e_irq_ack,
    .irq_disable = e1000e_irq_disable,
};

/* Linux e1000e board_82574: 2 queues, MSI-X with 5 vectors, DEFAULT_JUMBO 9234. */
const struct pmd_board pmd_board_e1000e_82574 = {
    .ops = &e1000e_ops,
    .desc_format = PMD_DESC_LEGACY,
    .reg_bar = 0,
    .max_frame = 9234,
    .rx_queues = 2,
    .tx_queues = 2,
    .msix_vectors = 5,
    .resets = 1u << PMD_RESET_NONE | 1u << PMD_RESET_DEVICE,
    .flags = PMD_BOARD_HAS_MSI | PMD_BOARD_HAS_MSIX | PMD_BOARD_PCIE | PMD_BOARD_HAS_JUMBO,
    .mac_filters = 16,       /* RAL/RAH[0-15] at the 8254x offsets */
    .features = "mtu stats filters vlan checksum link interrupts reset rss",
};
