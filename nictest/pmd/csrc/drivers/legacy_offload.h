/* legacy_offload.h - VLAN and checksum offloads on legacy-descriptor rings (e1000, e1000e):
 * the pmd_driver_ops hooks of pmd.h's offload calls (legacy_offload.c). */
#ifndef NICTEST_PMD_LEGACY_OFFLOAD_H
#define NICTEST_PMD_LEGACY_OFFLOAD_H
#include "../internal.h"

void legacy_offload_reset(volatile uint8_t *bar);
int legacy_offload_tx(struct pmd_port *port, const uint8_t *frame, uint32_t len, const struct pmd_tx_offload *off);
int legacy_offload_rx_meta(struct pmd_port *port, struct pmd_rx_meta *m, uint8_t *buf, uint32_t cap);
int legacy_offload_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg);
int legacy_offload_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4);

#define LEGACY_OFFLOAD_OPS                                                                                  \
    .tx_offload = legacy_offload_tx, .rx_meta = legacy_offload_rx_meta, .set_vlan = legacy_offload_set_vlan, \
    .set_rx_csum = legacy_offload_set_rx_csum
#endif
