/* e1000e_regs.h - what the Intel 82574L (e1000e) has beyond the 8254x
 * registers of e1000_regs.h, as in Linux drivers/net/ethernet/intel/e1000e/regs.h
 * and the 82574 datasheet section 10. The set verified on the lab is in
 * shared/LAB.md (beside the repo). */
#ifndef NICTEST_PMD_E1000E_REGS_H
#define NICTEST_PMD_E1000E_REGS_H
#include "e1000_regs.h"

#define E1000_RFCTL     0x05008  /* Receive Filter Control; 0: legacy (non-extended) RX descriptors */

/* MSI-X (82574 datasheet 7.4.2, 10.2.4): IVAR routes each cause to a vector; EIAC
 * auto-clears the ICR bit of a cause once its message is sent (and, with CTRL_EXT.IAME
 * clear, its IMS bit too: the vector is masked until the driver re-arms it). */
#define E1000_IVAR      0x000E4  /* Interrupt Vector Allocation */
#define E1000_EIAC_82574 0x000DC /* Extended Interrupt Auto Clear */
#define E1000_EITR_82574(n) (0x000E8 + 4u * (n)) /* per-vector interrupt throttling; 0: none */
#define E1000_IVAR_VALID 0x8u    /* INT_Alloc_Val of each 4-bit IVAR entry */
#define E1000_IVAR_RXQ0_SHIFT 0
#define E1000_IVAR_OTHER_SHIFT 16
#define E1000_CTRL_EXT_PBA_CLR (1u << 31) /* PBA_Support: MSI-X pending bits in the PBA */
#define E1000_ICR_RXQ0  (1u << 20)
#define E1000_ICR_OTHER (1u << 24)       /* every cause not routed to a queue vector (LSC, RXO, ...) */
#ifndef E1000_ICR_LSC
#define E1000_ICR_LSC   (1u << 2)        /* link status change */
#endif
#endif
