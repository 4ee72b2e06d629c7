/* e1000_family.h - what every MAC of the Intel e1000 family (8254x, 82574L, 82576)
 * keeps at the same place: the MAC in RAL0/RAH0, link in STATUS, the statistics
 * block at 0x4000, the address filters (RCTL UPE/MPE/BAM, RAL/RAH[n], MTA).
 * Drivers of any descriptor format use these for their ops. */
#ifndef NICTEST_PMD_E1000_FAMILY_H
#define NICTEST_PMD_E1000_FAMILY_H
#include <stdint.h>
#include "../internal.h"

int e1000_family_read_mac(struct pmd_port *port, uint8_t mac[6]);
int e1000_family_link(struct pmd_port *port, int *up, uint32_t *status);
/* Add the clear-on-read counters to acc. */
int e1000_family_read_stats(struct pmd_port *port, struct pmd_stats *acc);
/* RCTL.UPE/MPE/BAM from enum pmd_rx_mode; multicast offset 00 (the hash set_mc_table uses). */
int e1000_family_set_rx_mode(struct pmd_port *port, uint32_t mode);
/* RAL/RAH[index] = mac with address valid, or cleared (mac NULL). */
int e1000_family_set_mac_filter(struct pmd_port *port, uint32_t index, const uint8_t *mac);
/* MTA = exactly these addresses' hash bits. */
int e1000_family_set_mc_table(struct pmd_port *port, const uint8_t *macs, uint32_t count);

#define E1000_FAMILY_FILTER_OPS                                                              \
    .read_mac = e1000_family_read_mac, .link = e1000_family_link,                            \
    .read_stats = e1000_family_read_stats, .set_rx_mode = e1000_family_set_rx_mode,          \
    .set_mac_filter = e1000_family_set_mac_filter, .set_mc_table = e1000_family_set_mc_table
#endif
