/* e1000e.c - Intel 82574L (Linux's e1000e) with legacy descriptors, polled.
 * The rings are legacy.c's (the 82574L keeps the 8254x legacy ring registers);
 * what is this MAC's own: RFCTL, and its board facts. */
#include "../internal.h"
#include "../regs.h"
#include "e1000e_regs.h"
#include "legacy.h"

static int e1000e_init(struct pmd_port *port)
{
    legacy_quiesce(port);
    set_reg32(port->regs, E1000_RFCTL, 0); /* legacy, not extended, RX descriptors */
    return legacy_rings_start(port);
}

static int e1000e_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max)
{
    int n = legacy_dump(port, out, max);
    if (n < 0)
        return n;
    return pmd_dump_put(out, max, (uint32_t)n, "rx filter control", "RFCTL", E1000_RFCTL,
                        get_reg32(port->regs, E1000_RFCTL));
}

static const struct pmd_driver_ops e1000e_ops = {
    .name = "e1000e",
    LEGACY_RING_OPS,
    .init = e1000e_init,
    .dump = e1000e_dump,
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
    .features = "mtu stats filters",
};
