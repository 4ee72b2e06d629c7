/* e1000_regs.h - the 8254x (e1000) registers the legacy-descriptor drivers use.
 * Byte offsets into BAR0 and bit names as in Linux
 * drivers/net/ethernet/intel/e1000/e1000_hw.h and the PCI/PCI-X Family of
 * Gigabit Ethernet Controllers Software Developer's Manual (8254x SDM,
 * section 13 "Register Descriptions"). The 82540 and later MACs have all of
 * them at these offsets (the 82542 had the rings elsewhere; not driven).
 * The 82574L (e1000e) keeps every one of them (82574 datasheet section 10):
 * e1000e_regs.h adds only what it has beyond. */
#ifndef NICTEST_PMD_E1000_REGS_H
#define NICTEST_PMD_E1000_REGS_H

/* General (SDM ch. 13; 82574 datasheet 10.2.2) */
#define E1000_CTRL      0x00000  /* Device Control */
#define E1000_STATUS    0x00008  /* Device Status */
#define E1000_CTRL_EXT  0x00018  /* Extended Device Control */
#define E1000_CTRL_SLU  (1u << 6)   /* Set Link Up */
#define E1000_CTRL_RST  (1u << 26)  /* Device (software) reset, self-clearing */
#define E1000_STATUS_LU (1u << 1)   /* Link Up */

/* Interrupts (SDM ch. 13): masked while polling; legacy_irq.c enables some on the INTx line */
#define E1000_ICR       0x000C0  /* Interrupt Cause Read, clear on read */
#define E1000_ITR       0x000C4  /* Interrupt Throttling */
#define E1000_IMS       0x000D0  /* Interrupt Mask Set/Read */
#define E1000_IMC       0x000D8  /* Interrupt Mask Clear */
/* ICR/IMS/IMC cause bits (SDM 13.4.17-13.4.21; the same on the 82574L) */
#define E1000_ICR_TXDW   (1u << 0)  /* TX descriptor written back */
#define E1000_ICR_LSC    (1u << 2)  /* link status change */
#define E1000_ICR_RXDMT0 (1u << 4)  /* RX descriptors below the minimum threshold */
#define E1000_ICR_RXO    (1u << 6)  /* receiver overrun */
#define E1000_ICR_RXT0   (1u << 7)  /* receiver timer: a frame was written back (RDTR 0: at once) */

/* Receive (SDM ch. 13) */
#define E1000_RCTL      0x00100
#define E1000_RCTL_EN     (1u << 1)
#define E1000_RCTL_UPE    (1u << 3)   /* unicast promiscuous */
#define E1000_RCTL_MPE    (1u << 4)   /* multicast promiscuous */
#define E1000_RCTL_BAM    (1u << 15)  /* accept broadcast */
#define E1000_RCTL_LPE    (1u << 5)   /* long packet enable: frames over 1522 bytes */
#define E1000_RCTL_MO_MASK (3u << 12) /* multicast offset: 00 = hash from bits [47:36] */
#define E1000_RCTL_FILTER_BITS (E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM)
#define E1000_RCTL_SECRC  (1u << 26)  /* strip Ethernet CRC */
/* BSIZE 00 with BSEX 0 = 2048-byte buffers; DTYP 00 = legacy descriptors */
#define E1000_RCTL_VALUE (E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM | E1000_RCTL_SECRC)
#define E1000_RDBAL     0x02800
#define E1000_RDBAH     0x02804
#define E1000_RDLEN     0x02808
#define E1000_RDH       0x02810
#define E1000_RDT       0x02818
#define E1000_RDTR      0x02820  /* RX delay timer */
#define E1000_RADV      0x0282C  /* RX absolute delay timer */
#define E1000_RXCSUM    0x05000  /* 0: csum field stays the packet checksum */
#define E1000_RAL0      0x05400
#define E1000_RAH0      0x05404
#define E1000_RAH_AV    (1u << 31)  /* address valid */
/* Receive addresses RAL/RAH[n] (SDM 13.4.x): 16 pairs at 0x5400 + 8n on every MAC of
 * the family; the 82576 has 8 more at 0x54E0 (its datasheet 8.10.x, RAL/RAH[16-23]). */
#define E1000_RAL(n)    ((n) < 16 ? 0x05400u + 8u * (n) : 0x054E0u + 8u * ((n) - 16))
#define E1000_RAH(n)    (E1000_RAL(n) + 4u)
/* Multicast Table Array: 4096 bits in 128 registers; with RCTL.MO 00 the bit is
 * destination address bits [47:36] (SDM 13.4.x, "MTA") */
#define E1000_MTA       0x05200
#define E1000_MTA_REGS  128
/* Largest frame (with FCS) without / with RCTL.LPE on the 8254x (SDM 13.4.22, RCTL.LPE) */
#define E1000_MAX_STD_FRAME 1522u   /* 1518 + a VLAN tag */
#define E1000_MAX_LPE_FRAME 16384u

/* Transmit (SDM ch. 13) */
#define E1000_TCTL      0x00400
#define E1000_TCTL_EN   (1u << 1)
#define E1000_TCTL_PSP  (1u << 3)   /* pad short packets */
#define E1000_TCTL_CT_SHIFT   4     /* collision threshold */
#define E1000_TCTL_COLD_SHIFT 12    /* collision distance */
#define E1000_TCTL_VALUE (E1000_TCTL_EN | E1000_TCTL_PSP | (0x0Fu << E1000_TCTL_CT_SHIFT) | (0x3Fu << E1000_TCTL_COLD_SHIFT))
#define E1000_TIPG      0x00410
/* IPGT 8, IPGR1 8, IPGR2 6: Linux e1000's DEFAULT_82543_TIPG_* for copper,
 * the same as e1000e's DEFAULT_TIPG_* for the 82574L */
#define E1000_TIPG_VALUE 0x00602008u
#define E1000_TDBAL     0x03800
#define E1000_TDBAH     0x03804
#define E1000_TDLEN     0x03808
#define E1000_TDH       0x03810
#define E1000_TDT       0x03818
#define E1000_TIDV      0x03820  /* TX interrupt delay */
#define E1000_TADV      0x0382C  /* TX absolute interrupt delay */

/* Statistics (SDM ch. 13, statistics): clear on read; 64-bit ones clear when the high half is read */
#define E1000_CRCERRS   0x04000
#define E1000_MPC       0x04010
#define E1000_GPRC      0x04074
#define E1000_GPTC      0x04080
#define E1000_GORCL     0x04088
#define E1000_GORCH     0x0408C
#define E1000_GOTCL     0x04090
#define E1000_GOTCH     0x04094
#define E1000_RNBC      0x040A0
#define E1000_RLEC      0x04040  /* receive length errors */
#define E1000_BPRC      0x04078  /* broadcast packets received */
#define E1000_MPRC      0x0407C  /* multicast packets received */
#define E1000_RUC       0x040A4  /* receive undersize */
#define E1000_ROC       0x040AC  /* receive oversize: longer than RCTL.LPE / RLPML allow */
#define E1000_TORL      0x040C0  /* total octets received */
#define E1000_TORH      0x040C4
#define E1000_TOTL      0x040C8  /* total octets transmitted */
#define E1000_TOTH      0x040CC
#define E1000_TPR       0x040D0  /* total packets received */
#define E1000_TPT       0x040D4  /* total packets transmitted */
#define E1000_MPTC      0x040F0  /* multicast packets transmitted */
#define E1000_BPTC      0x040F4  /* broadcast packets transmitted */

/* Legacy descriptor bits (SDM ch. 3; layouts in legacy.h) */
#define E1000_RXD_STAT_DD  0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_TXD_CMD_EOP  0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_RS   0x08
#define E1000_TXD_STAT_DD  0x01

/* VLAN and checksum offloads (8254x SDM 3.2.x, 3.3.x, 13.x; legacy_offload.c) */
#define E1000_CTRL_VME  (1u << 30)  /* VLAN mode: strip tags on RX; TX inserts tags (VLE) only with it */
#define E1000_VET       0x00038     /* VLAN Ether Type */
#define E1000_VET_8021Q 0x8100u
#define E1000_VFTA(n)   (0x05600u + 4u * (n))  /* VLAN filter table: bit VID % 32 of entry VID / 32 */
#define E1000_VFTA_ENTRIES 128
#define E1000_RCTL_VFE  (1u << 18)  /* VLAN filter enable */
#define E1000_RXCSUM_IPOFLD (1u << 8)
#define E1000_RXCSUM_TUOFLD (1u << 9)
/* Legacy RX descriptor status / errors bytes */
#define E1000_RXD_STAT_VP    0x08   /* 802.1Q tag stripped into special */
#define E1000_RXD_STAT_UDPCS 0x10   /* UDP checksum checked (82571 and later) */
#define E1000_RXD_STAT_TCPCS 0x20   /* TCP/UDP checksum checked */
#define E1000_RXD_STAT_IPCS  0x40   /* IPv4 checksum checked */
#define E1000_RXD_ERR_TCPE   0x20   /* TCP/UDP checksum wrong */
#define E1000_RXD_ERR_IPE    0x40   /* IPv4 checksum wrong */
#define E1000_TXD_CMD_VLE    0x40   /* legacy cmd: insert special as an 802.1Q tag */
/* TCP/IP context descriptor and extended data descriptor (3.3.6, 3.3.7): dword 2 / 3 */
#define E1000_TXD_DTYP_CTXT  0x00000000u
#define E1000_TXD_DTYP_DATA  0x00100000u
#define E1000_TXD_CMD_TCP    0x01000000u  /* context TUCMD: TCP (else UDP) */
#define E1000_TXD_CMD_IP     0x02000000u  /* context TUCMD: IPv4 */
#define E1000_TXD_DCMD_EOP   0x01000000u
#define E1000_TXD_DCMD_IFCS  0x02000000u
#define E1000_TXD_DCMD_RS    0x08000000u
#define E1000_TXD_DCMD_DEXT  0x20000000u
#define E1000_TXD_DCMD_VLE   0x40000000u
#define E1000_TXD_POPTS_IXSM 0x00000100u  /* data dword 3: insert the IPv4 checksum */
#define E1000_TXD_POPTS_TXSM 0x00000200u  /* data dword 3: insert the TCP/UDP checksum */
#define E1000_TXD_SPECIAL_SHIFT 16
#endif
