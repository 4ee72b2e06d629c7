/* e1000_family.h - what every MAC of the Intel e1000 family (8254x, 82574L, 82576)
 * keeps at the same place: the MAC in RAL0/RAH0, link in STATUS, the statistics
 * block at 0x4000. Drivers of any descriptor format use these for their ops. */
#ifndef NICTEST_PMD_E1000_FAMILY_H
#define NICTEST_PMD_E1000_FAMILY_H
#include <stdint.h>
#include "../internal.h"

int e1000_family_read_mac(struct pmd_port *port, uint8_t mac[6]);
int e1000_family_link(struct pmd_port *port, int *up, uint32_t *status);
/* Add the clear-on-read counters to acc. */
int e1000_family_read_stats(struct pmd_port *port, struct pmd_stats *acc);
#endif
