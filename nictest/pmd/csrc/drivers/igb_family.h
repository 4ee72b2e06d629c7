/* igb_family.h - advanced-descriptor rings (82575 and later), shared by the 82576 PF
 * (igb.c) and its virtual function (igbvf.c): the same descriptors (igb_regs.h) and
 * the same per-queue register block, found at 0x0C000 / 0x0E000 + 0x40 * n on the PF
 * and at 0x02800 / 0x03800 + 0x100 * n on a VF. The driver names the block's base and
 * keeps what differs: reset, enabling the queue, its units (RCTL/TCTL on the PF). */
#ifndef NICTEST_PMD_IGB_FAMILY_H
#define NICTEST_PMD_IGB_FAMILY_H
#include <stdint.h>
#include "../internal.h"
#include "igb_regs.h"   /* the advanced descriptor layouts (datasheet 7.1.5, 7.2.2.3) and SRRCTL bits */

/* Offsets inside a queue's register block (RDBALn / TDBALn + ...). */
#define ADV_Q_BAL    0x00
#define ADV_Q_BAH    0x04
#define ADV_Q_LEN    0x08
#define ADV_Q_SRRCTL 0x0C    /* RX only */
#define ADV_Q_HEAD   0x10
#define ADV_Q_TAIL   0x18
#define ADV_Q_DCTL   0x28    /* RXDCTL / TXDCTL: ENABLE bit 25 */
#define ADV_Q_WBAL   0x38    /* TX only: head write-back (kept off) */
#define ADV_Q_WBAH   0x3C

/* Program both rings of one queue pair (descriptors, base, length, SRRCTL, head and
 * tail 0, no head write-back) and reset the ring indexes; enables nothing. */
void igb_family_rings_program(struct pmd_port *port, uint32_t rx_block, uint32_t tx_block);

int igb_family_tx_clean(struct pmd_port *port);
int igb_family_tx_burst(struct pmd_port *port, uint32_t tdt, uint32_t max, pmd_fill_fn fill, void *ctx);
int igb_family_tx_raw(struct pmd_port *port, uint32_t tdt, uint64_t bus, uint32_t len);
int igb_family_rx_burst(struct pmd_port *port, uint32_t rdt, uint32_t max, pmd_recv_fn recv, void *ctx);
int igb_family_rx_point_next(struct pmd_port *port, uint64_t bus);
#endif
