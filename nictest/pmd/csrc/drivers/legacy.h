/* legacy.h - Intel legacy descriptor rings, shared by e1000 (8254x) and e1000e
 * (82574L): the same hardware behaviour, the same registers (e1000_regs.h).
 * A driver's file keeps only what its MAC does differently (its init extras,
 * its board facts). */
#ifndef NICTEST_PMD_LEGACY_H
#define NICTEST_PMD_LEGACY_H
#include <stdint.h>
#include "../internal.h"
#include "e1000_family.h"

/* Legacy descriptors (8254x SDM ch. 3, 82574 datasheet 7.1.4 / 7.2.10.1). */
struct legacy_rx_desc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;          /* DD bit 0, EOP bit 1 */
    uint8_t errors;
    uint16_t special;
};

struct legacy_tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;             /* EOP 0x01, IFCS 0x02, RS 0x08 */
    uint8_t status;          /* DD bit 0 */
    uint8_t css;
    uint16_t special;
};

_Static_assert(sizeof(struct legacy_rx_desc) == 16, "legacy RX descriptor is 16 bytes");
_Static_assert(sizeof(struct legacy_tx_desc) == 16, "legacy TX descriptor is 16 bytes");
_Static_assert(__builtin_offsetof(struct legacy_rx_desc, status) == 12, "RX status at byte 12");
_Static_assert(__builtin_offsetof(struct legacy_tx_desc, status) == 12, "TX status at byte 12");

/* Interrupts masked, rings off, link up, no delay timers, plain checksum field. */
void legacy_quiesce(struct pmd_port *port);
/* Program both rings, TIPG, RCTL/TCTL; hand the RX descriptors to the device. */
int legacy_rings_start(struct pmd_port *port);

int legacy_stop(struct pmd_port *port);
int legacy_reset(struct pmd_port *port);
int legacy_tx_burst(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx);
int legacy_tx_clean(struct pmd_port *port);
int legacy_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx);
int legacy_rx_point_next(struct pmd_port *port, uint64_t bus);
int legacy_tx_raw(struct pmd_port *port, uint64_t bus, uint32_t len);
int legacy_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max);
int legacy_tx_chain(struct pmd_port *port, const uint8_t *frame, uint32_t len);
int legacy_set_max_frame(struct pmd_port *port, uint32_t max_frame, uint32_t *limit);

/* The ops every legacy-ring driver shares; the driver adds .name, .init and .dump. A driver
 * whose queue 0 may leave the legacy format (e1000e's extended descriptors) takes the ops
 * but rx_burst (LEGACY_RING_OPS_TX_AND_CONTROL) and brings its own. */
#define LEGACY_RING_OPS_TX_AND_CONTROL                                                               \
    .rx_desc_size = sizeof(struct legacy_rx_desc), .tx_desc_size = sizeof(struct legacy_tx_desc),    \
    .ring_align = 128, /* RDLEN/TDLEN: multiples of 128 bytes */                                     \
    .ring_max = 4096, .stop = legacy_stop, .reset = legacy_reset, E1000_FAMILY_FILTER_OPS,           \
    .tx_burst = legacy_tx_burst, .tx_clean = legacy_tx_clean,                                        \
    .rx_point_next = legacy_rx_point_next, .tx_raw = legacy_tx_raw, .tx_chain = legacy_tx_chain,     \
    .set_max_frame = legacy_set_max_frame
#define LEGACY_RING_OPS LEGACY_RING_OPS_TX_AND_CONTROL, .rx_burst = legacy_rx_burst
#endif
