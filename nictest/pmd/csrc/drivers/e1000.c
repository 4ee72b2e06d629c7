/* e1000.c - Intel 8254x (82540EM, 82545, 82546: Linux's e1000), conventional
 * PCI / PCI-X, legacy descriptors, polled; interrupts on its INTx line (no MSI-X).
 * The rings are legacy.c's, the INTx causes legacy_irq.c's; what is this MAC's own
 * is its init and its board facts. */
#include "../internal.h"
#include "legacy.h"
#include "legacy_irq.h"
#include "legacy_offload.h"

/* The 8254x has no RFCTL (extended RX descriptors came with the 82571): the
 * common quiesce and ring setup is all it needs. */
static int e1000_init(struct pmd_port *port)
{
    legacy_quiesce(port);
    return legacy_rings_start(port);
}

static const struct pmd_driver_ops e1000_ops = {
    .name = "e1000",
    LEGACY_RING_OPS,
    .init = e1000_init,
    .dump = legacy_dump,
    LEGACY_OFFLOAD_OPS,
    LEGACY_INTX_OPS,
};

/* Linux e1000: one queue pair, no MSI-X; MAX_JUMBO_FRAME_SIZE 0x3F00 (with FCS). */
const struct pmd_board pmd_board_e1000_82540 = {
    .ops = &e1000_ops,
    .desc_format = PMD_DESC_LEGACY,
    .reg_bar = 0,
    .max_frame = 0x3F00,
    .rx_queues = 1,
    .tx_queues = 1,
    .msix_vectors = 0,
    .resets = 1u << PMD_RESET_NONE | 1u << PMD_RESET_DEVICE,
    .flags = PMD_BOARD_HAS_JUMBO,
    .mac_filters = 16,       /* RAL/RAH[0-15] (8254x SDM, receive address registers) */
    /* checksum is wired (legacy_offload.c) but left out: its RX status test failed on QEMU 10 e1000, cause not found */
    .features = "mtu stats filters vlan reset link interrupts",
};
