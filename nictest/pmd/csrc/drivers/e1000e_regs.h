/* e1000e_regs.h - what the Intel 82574L (e1000e) has beyond the 8254x
 * registers of e1000_regs.h, as in Linux drivers/net/ethernet/intel/e1000e/regs.h
 * and the 82574 datasheet section 10. The set verified on the lab is in
 * shared/LAB.md (beside the repo). */
#ifndef NICTEST_PMD_E1000E_REGS_H
#define NICTEST_PMD_E1000E_REGS_H
#include "e1000_regs.h"

#define E1000_RFCTL     0x05008  /* Receive Filter Control; 0: legacy (non-extended) RX descriptors */
#define E1000_RFCTL_EXTEN (1u << 15) /* extended RX descriptors (the RSS hash is in their write-back) */

/* Two queues and RSS (datasheet 7.1.9, 10.2.5): queue n's ring registers sit 0x100 after
 * queue 0's; MRQC turns RSS on and picks the hashed fields (no UDP field on this MAC: an
 * IPv4/UDP frame hashes over its addresses), RETA bit 7 of each entry names the queue. */
#define E1000_RDBAL_Q(n) (0x02800 + 0x100u * (n))
#define E1000_RDBAH_Q(n) (0x02804 + 0x100u * (n))
#define E1000_RDLEN_Q(n) (0x02808 + 0x100u * (n))
#define E1000_RDH_Q(n)   (0x02810 + 0x100u * (n))
#define E1000_RDT_Q(n)   (0x02818 + 0x100u * (n))
#define E1000_TDBAL_Q(n) (0x03800 + 0x100u * (n))
#define E1000_TDBAH_Q(n) (0x03804 + 0x100u * (n))
#define E1000_TDLEN_Q(n) (0x03808 + 0x100u * (n))
#define E1000_TDH_Q(n)   (0x03810 + 0x100u * (n))
#define E1000_TDT_Q(n)   (0x03818 + 0x100u * (n))
#define E1000_MRQC      0x05818  /* Multiple Receive Queues Command */
#define E1000_MRQC_RSS_ENABLE_2Q 0x1u
#define E1000_MRQC_RSS_FIELD_IPV4_TCP (1u << 16)
#define E1000_MRQC_RSS_FIELD_IPV4 (1u << 17)
#define E1000_RETA(n)   (0x05C00 + 4u * (n)) /* 32 registers, 4 one-byte entries each */
#define E1000_RETA_REGS 32
#define E1000_RETA_QUEUE_SHIFT 7
#define E1000_RSSRK(n)  (0x05C80 + 4u * (n)) /* the 40-byte key, byte 0 in RSSRK(0) bits 7:0 */
#define E1000_RSSRK_REGS 10
#define E1000_RXCSUM_PCSD (1u << 13) /* the write-back carries the RSS hash, not the checksum */
/* Extended RX descriptor write-back: mrq bits 3:0 the RSS type; status_error: status 19:0, errors 31:24. */
#define E1000_RXD_MRQ_RSSTYPE_MASK 0xFu
#define E1000_RXD_RSSTYPE_IPV4_TCP 1u
#define E1000_RXD_RSSTYPE_IPV4 2u
#define E1000_RXDEXT_STAT_DD 0x1u
#define E1000_RXDEXT_STAT_EOP 0x2u
#define E1000_RXDEXT_ERR_SHIFT 24

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
#endif
