/* igb_offload.h - 82576 PF queue 0: VLAN tag insertion/stripping/filtering and IPv4/TCP/UDP
 * checksum offload (igb_offload.c), the pmd_driver_ops hooks of pmd.h's offload calls. */
#ifndef NICTEST_PMD_IGB_OFFLOAD_H
#define NICTEST_PMD_IGB_OFFLOAD_H
#include "../internal.h"

/* Offloads off: no stripping, no VLAN filter, empty VFTA, VET 0x8100, no RX checksums. */
void igb_offload_reset(volatile uint8_t *bar);
int igb_offload_tx(struct pmd_port *port, const uint8_t *frame, uint32_t len, const struct pmd_tx_offload *off);
/* igb_family_tx_clean, also reaping context descriptors (which report no DD of their own). */
int igb_offload_tx_clean(struct pmd_port *port);
int igb_offload_rx_meta(struct pmd_port *port, struct pmd_rx_meta *m, uint8_t *buf, uint32_t cap);
int igb_offload_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg);
int igb_offload_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4);

#define IGB_OFFLOAD_OPS                                                                                   \
    .tx_offload = igb_offload_tx, .rx_meta = igb_offload_rx_meta, .set_vlan = igb_offload_set_vlan,       \
    .set_rx_csum = igb_offload_set_rx_csum
#endif
