/* vlan_filter.h - the receive-side VLAN and checksum controls that the e1000 and igb
 * families lay out alike (CTRL.VME, VET, the VFTA table, RCTL.VFE, RXCSUM): one
 * implementation, each driver passing its own datasheet-named constants (vlan_filter.c). */
#ifndef NICTEST_PMD_VLAN_FILTER_H
#define NICTEST_PMD_VLAN_FILTER_H
#include "../internal.h"

#define VLAN_FILTER_MAX_ENTRIES 128  /* 4096 VIDs, one bit each, 32 per VFTA entry */

struct vlan_filter_regs {
    uint32_t ctrl, ctrl_vme;      /* CTRL and its VLAN mode bit (strip on RX) */
    uint32_t rctl, rctl_vfe;      /* RCTL and its VLAN filter enable bit */
    uint32_t vet, vet_8021q;      /* VLAN Ether Type and the 802.1Q TPID written there */
    uint32_t vfta, vfta_entries;  /* VFTA entry 0 (entries 4 bytes apart) and how many there are */
};

struct rx_csum_regs {
    uint32_t rxcsum, ipofld, tuofld;  /* RXCSUM and its IP / TCP-UDP checksum offload bits */
};

/* VLAN mode off, the 802.1Q TPID, an empty filter table: the state a port opens in. */
void vlan_filter_reset(volatile uint8_t *bar, const struct vlan_filter_regs *r);
/* Stripping, filtering and the table of cfg, each read back: EIO naming what did not take. */
int vlan_filter_apply(volatile uint8_t *bar, const struct vlan_filter_regs *r, const struct pmd_vlan_config *cfg);
/* RX IP and L4 checksum offload on or off, read back. */
int rx_csum_apply(volatile uint8_t *bar, const struct rx_csum_regs *r, uint32_t ip, uint32_t l4);
#endif
