/* e1000e_regs.h - what the Intel 82574L (e1000e) has beyond the 8254x
 * registers of e1000_regs.h, as in Linux drivers/net/ethernet/intel/e1000e/regs.h
 * and the 82574 datasheet section 10. The set verified on the lab is in
 * shared/LAB.md (beside the repo). */
#ifndef NICTEST_PMD_E1000E_REGS_H
#define NICTEST_PMD_E1000E_REGS_H
#include "e1000_regs.h"

#define E1000_RFCTL     0x05008  /* Receive Filter Control; 0: legacy (non-extended) RX descriptors */
#endif
