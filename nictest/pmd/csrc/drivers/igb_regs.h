/* igb_regs.h - Intel 82576 (igb) registers and advanced descriptors this driver relies on.
 * Byte offsets into BAR0 and bit names as in the Intel 82576 datasheet (section 8,
 * "Programming Interface") and Linux drivers/net/ethernet/intel/igb (e1000_regs.h,
 * e1000_defines.h, e1000_82575.h). Per-queue registers use the datasheet's primary
 * address (0x0C000 / 0x0E000 + 0x40 * n, valid for all 16 queues); queues 0-3 are
 * also reachable at the 8254x-compatible aliases 0x02800 / 0x03800 + 0x100 * n. */
#ifndef NICTEST_PMD_IGB_REGS_H
#define NICTEST_PMD_IGB_REGS_H
#include <stdint.h>

/* General (8.2) */
#define IGB_CTRL        0x00000  /* Device Control */
#define IGB_STATUS      0x00008  /* Device Status */
#define IGB_CTRL_EXT    0x00018  /* Extended Device Control */
#define IGB_MDIC        0x00020  /* MDI Control: PHY register access */
#define IGB_CTRL_SLU    (1u << 6)   /* Set Link Up */
#define IGB_CTRL_FRCSPD (1u << 11)  /* Force speed */
#define IGB_CTRL_FRCDPX (1u << 12)  /* Force duplex */
#define IGB_CTRL_RST    (1u << 26)  /* Device (software) reset, self-clearing */
#define IGB_STATUS_LU   (1u << 1)   /* Link Up */
#define IGB_CTRL_EXT_DRV_LOAD (1u << 28)  /* a driver owns the device (tells manageability firmware) */

/* MDIC (8.2) and the PHY control register (IEEE 802.3 clause 22, register 0) */
#define IGB_MDIC_REG_SHIFT 16
#define IGB_MDIC_PHY_SHIFT 21
#define IGB_MDIC_PHY_ADDR  1u           /* the internal PHY */
#define IGB_MDIC_OP_WRITE  (1u << 26)
#define IGB_MDIC_READY     (1u << 28)
#define IGB_MDIC_ERROR     (1u << 30)
#define IGB_PHY_BMCR       0            /* PHY control */
#define IGB_BMCR_SPEED1000 0x0040
#define IGB_BMCR_FULL_DUPLEX 0x0100
#define IGB_BMCR_ANRESTART 0x0200       /* restart auto-negotiation, self-clearing */
#define IGB_BMCR_ANENABLE  0x1000

/* PCIe control (8.6.1): no endless re-sends of a DMA read the IOMMU refused */
#define IGB_GCR         0x05B00
#define IGB_GCR_CMPL_TMOUT_RESEND (1u << 16)

/* Interrupts (8.8): polling only, all masked */
#define IGB_ICR         0x000C0  /* Interrupt Cause Read, clear on read */
#define IGB_IMS         0x000D0  /* Interrupt Mask Set/Read */
#define IGB_IMC         0x000D8  /* Interrupt Mask Clear */
#define IGB_GPIE        0x01514  /* General Purpose Interrupt Enable (0: no MSI-X mode) */
#define IGB_EIMS        0x01524  /* Extended Interrupt Mask Set/Read */
#define IGB_EIMC        0x01528  /* Extended Interrupt Mask Clear */
#define IGB_EIAC        0x0152C  /* Extended Interrupt Auto Clear */
/* MSI-X mode (8.8, 7.3): causes go to vectors through IVAR; EICR bit n is vector n */
#define IGB_EICS        0x01520  /* Extended Interrupt Cause Set */
#define IGB_EIAM        0x01530  /* Extended Interrupt Auto Mask enable */
#define IGB_EICR        0x01580  /* Extended Interrupt Cause Read */
#define IGB_EITR(n)     (0x01680u + 4u * (n))  /* interrupt throttling; 0: none */
#define IGB_IVAR0       0x01700  /* queue 0-7 RX/TX vector allocation: RX0 in bits 7:0 */
#define IGB_IVAR_MISC   0x01740  /* other causes (link...) in bits 15:8 */
#define IGB_IVAR_VALID  0x80u
#define IGB_IVAR_MISC_OTHER_SHIFT 8
#define IGB_GPIE_NSICR  (1u << 0)   /* ICR cleared on read (no auto mask needed) */
#define IGB_GPIE_MSIX_MODE (1u << 4) /* Multiple_MSIX: one vector per EICR bit */
#define IGB_GPIE_PBA    (1u << 31)  /* PBA support */
#define IGB_ICR_LSC     (1u << 2)   /* link status change */

/* Receive (8.10) */
#define IGB_RCTL        0x00100
#define IGB_RCTL_EN       (1u << 1)
#define IGB_RCTL_UPE      (1u << 3)   /* unicast promiscuous */
#define IGB_RCTL_MPE      (1u << 4)   /* multicast promiscuous */
#define IGB_RCTL_BAM      (1u << 15)  /* accept broadcast */
#define IGB_RCTL_SECRC    (1u << 26)  /* strip Ethernet CRC */
#define IGB_RCTL_LPE      (1u << 5)   /* long packet enable: up to RLPML */
#define IGB_RLPML       0x05004  /* Receive Long Packet Maximum Length (8.10.x), bytes with CRC */
#define IGB_RLPML_MASK  0x3FFFu
#define IGB_MAX_STD_FRAME 1522u  /* without RCTL.LPE: 1518 + a VLAN tag */
/* BSIZE 00 = 2048 (SRRCTL.BSIZEPACKET overrides it); DTYP must stay 00 on the 82576 */
#define IGB_RCTL_VALUE (IGB_RCTL_EN | IGB_RCTL_UPE | IGB_RCTL_MPE | IGB_RCTL_BAM | IGB_RCTL_SECRC)
#define IGB_RXCSUM      0x05000  /* 0: no checksum offload, no RSS: plain descriptors */
#define IGB_MRQC        0x05818  /* 0: one queue, no RSS, no VMDq pools */
#define IGB_RAL0        0x05400
#define IGB_RAH0        0x05404
#define IGB_RAH_AV      (1u << 31)  /* address valid */

#define IGB_RDBAL(n)    (0x0C000u + 0x40u * (n))
#define IGB_RDBAH(n)    (0x0C004u + 0x40u * (n))
#define IGB_RDLEN(n)    (0x0C008u + 0x40u * (n))
#define IGB_SRRCTL(n)   (0x0C00Cu + 0x40u * (n))  /* split and replication RX control */
#define IGB_RDH(n)      (0x0C010u + 0x40u * (n))
#define IGB_RDT(n)      (0x0C018u + 0x40u * (n))
#define IGB_RXDCTL(n)   (0x0C028u + 0x40u * (n))
#define IGB_SRRCTL_BSIZEPKT_1K 1u           /* BSIZEPACKET, bits 6:0, in 1 KiB units */
#define IGB_SRRCTL_DESCTYPE_ADV_ONEBUF (1u << 25)  /* DESCTYPE 27:25 = 001b */
#define IGB_SRRCTL_VALUE ((PMD_BUF_SIZE / 1024) * IGB_SRRCTL_BSIZEPKT_1K | IGB_SRRCTL_DESCTYPE_ADV_ONEBUF)
#define IGB_NUM_QUEUES  16       /* RX and TX queues of the 82576 PF */
#define IGB_RXDCTL_WTHRESH_SHIFT 16
#define IGB_RXDCTL_ENABLE (1u << 25)  /* reads 1 only once the queue really runs: poll it */

/* Transmit (8.12) */
#define IGB_TCTL        0x00400
#define IGB_TCTL_EN     (1u << 1)
#define IGB_TCTL_PSP    (1u << 3)   /* pad short packets */
#define IGB_TCTL_CT_SHIFT   4       /* collision threshold */
#define IGB_TCTL_COLD_SHIFT 12      /* collision distance */
#define IGB_TCTL_RTLC   (1u << 24)  /* retransmit on late collision */
#define IGB_TCTL_VALUE (IGB_TCTL_EN | IGB_TCTL_PSP | (0x0Fu << IGB_TCTL_CT_SHIFT) | \
                        (0x3Fu << IGB_TCTL_COLD_SHIFT) | IGB_TCTL_RTLC)
#define IGB_TCTL_MASK (IGB_TCTL_EN | IGB_TCTL_PSP | (0xFFu << IGB_TCTL_CT_SHIFT) | \
                       (0x3FFu << IGB_TCTL_COLD_SHIFT) | IGB_TCTL_RTLC)
#define IGB_TDBAL(n)    (0x0E000u + 0x40u * (n))
#define IGB_TDBAH(n)    (0x0E004u + 0x40u * (n))
#define IGB_TDLEN(n)    (0x0E008u + 0x40u * (n))
#define IGB_TDH(n)      (0x0E010u + 0x40u * (n))
#define IGB_TDT(n)      (0x0E018u + 0x40u * (n))
#define IGB_TXDCTL(n)   (0x0E028u + 0x40u * (n))
#define IGB_TDWBAL(n)   (0x0E038u + 0x40u * (n))  /* head write-back: bit 0 enables it; kept 0 */
#define IGB_TDWBAH(n)   (0x0E03Cu + 0x40u * (n))
#define IGB_TXDCTL_ENABLE (1u << 25)  /* reads 1 only once the queue really runs: poll it */

/* Statistics (8.19): clear on read; 64-bit ones clear when the high half is read */
#define IGB_CRCERRS     0x04000
#define IGB_MPC         0x04010
#define IGB_GPRC        0x04074
#define IGB_GPTC        0x04080
#define IGB_GORCL       0x04088
#define IGB_GORCH       0x0408C
#define IGB_GOTCL       0x04090
#define IGB_GOTCH       0x04094
#define IGB_RNBC        0x040A0

/* Advanced receive descriptor (7.1.5): the driver writes the read format, the
 * device overwrites the same 16 bytes with the write-back format. */
union igb_adv_rx_desc {
    struct {
        uint64_t pkt_addr;      /* packet buffer */
        uint64_t hdr_addr;      /* header buffer (no split: 0; its bit 0 is where DD lands) */
    } read;
    struct {
        uint16_t pkt_info;      /* RSS type, packet type */
        uint16_t hdr_info;
        uint32_t rss;           /* RSS hash or IP id + checksum */
        uint32_t status_error;  /* extended status (low bits) and errors (high bits) */
        uint16_t length;        /* bytes written to pkt_addr */
        uint16_t vlan;
    } wb;
};
#define IGB_RXD_STAT_DD   (1u << 0)
#define IGB_RXD_STAT_EOP  (1u << 1)
#define IGB_RXD_ERR_SHIFT 24        /* errors in bits 31:24 (RXE, IPE, L4E, ...) */

/* Advanced transmit data descriptor (7.2.2.3) and its write-back */
union igb_adv_tx_desc {
    struct {
        uint64_t buffer_addr;
        uint32_t cmd_type_len;  /* DTALEN 15:0, DTYP 23:20, DCMD 31:24 */
        uint32_t olinfo_status; /* STA 3:0, PAYLEN 31:14 */
    } read;
    struct {
        uint64_t rsvd;
        uint32_t nxtseq_seed;
        uint32_t status;        /* DD bit 0 once the device is done */
    } wb;
};
#define IGB_ADVTXD_DTYP_DATA  0x00300000u  /* advanced data descriptor */
#define IGB_ADVTXD_DCMD_EOP   0x01000000u  /* end of packet */
#define IGB_ADVTXD_DCMD_IFCS  0x02000000u  /* insert FCS */
#define IGB_ADVTXD_DCMD_RS    0x08000000u  /* report status (write back DD) */
#define IGB_ADVTXD_DCMD_DEXT  0x20000000u  /* descriptor extension: advanced format */
#define IGB_ADVTXD_PAYLEN_SHIFT 14
#define IGB_TXD_STAT_DD       0x00000001u

_Static_assert(sizeof(union igb_adv_rx_desc) == 16, "advanced RX descriptor is 16 bytes (datasheet 7.1.5)");
_Static_assert(sizeof(union igb_adv_tx_desc) == 16, "advanced TX descriptor is 16 bytes (datasheet 7.2.2.3)");
_Static_assert(__builtin_offsetof(union igb_adv_rx_desc, wb.status_error) == 8, "RX status at byte 8");
_Static_assert(__builtin_offsetof(union igb_adv_rx_desc, wb.length) == 12, "RX length at byte 12");
_Static_assert(__builtin_offsetof(union igb_adv_tx_desc, wb.status) == 12, "TX status at byte 12");
/* Several queues and RSS (7.1.2.8, 8.10): MRQC.MRQE = RSS, hash fields, the 40-byte key in
 * RSSRK0-9 (byte i in register i / 4, bits 8 * (i % 4)), the 128-entry redirection table in
 * RETA0-31 (entry i in register i / 4, byte i % 4; 82576 without VFs: the queue number).
 * RXCSUM.PCSD: the descriptor's dword 1 holds the RSS hash (not the IP id / checksum). */
#define IGB_MRQC_MRQE_RSS        0x2u
#define IGB_MRQC_RSS_FIELD_IPV4_TCP (1u << 16)
#define IGB_MRQC_RSS_FIELD_IPV4     (1u << 17)
#define IGB_MRQC_RSS_FIELD_IPV4_UDP (1u << 22)
#define IGB_RSSRK(n)    (0x05C80u + 4u * (n))
#define IGB_RETA(n)     (0x05C00u + 4u * (n))
#define IGB_RSSRK_REGS  10
#define IGB_RETA_REGS   32
/* RSS type in the advanced RX descriptor's pkt_info bits 3:0 (7.1.5.2) */
#define IGB_RXD_RSSTYPE_MASK     0xFu
#define IGB_RXD_RSSTYPE_IPV4_TCP 0x1u
#define IGB_RXD_RSSTYPE_IPV4     0x2u
#define IGB_RXD_RSSTYPE_IPV4_UDP 0x7u

/* VLAN and checksum offloads (8.2.1, 8.10, 7.1.5, 7.2.2.2; drivers/igb_offload.c) */
#define IGB_CTRL_VME    (1u << 30)  /* VLAN mode: strip 802.1Q tags on RX (VP + tag in the descriptor) */
#define IGB_VET         0x00038  /* VLAN Ether Type (the TPID matched and inserted) */
#define IGB_VET_8021Q   0x8100u
#define IGB_VFTA(n)     (0x05600u + 4u * (n))  /* VLAN filter table, 128 x 32 bits: bit VID % 32 of entry VID / 32 */
#define IGB_VFTA_ENTRIES 128
#define IGB_RCTL_VFE    (1u << 18)  /* VLAN filter enable: tagged frames need their VFTA bit */
#define IGB_RXCSUM_IPOFLD (1u << 8) /* check IPv4 header checksums */
#define IGB_RXCSUM_TUOFLD (1u << 9) /* check TCP/UDP checksums */
#define IGB_RXCSUM_PCSD   (1u << 13) /* descriptor dword 1: RSS hash instead of IP id / checksum */
/* Advanced RX write-back: extended status (19:0) and errors (31:20) */
#define IGB_RXD_STAT_VP    (1u << 3)   /* an 802.1Q tag was stripped; it is in wb.vlan */
#define IGB_RXD_STAT_UDPCS (1u << 4)   /* UDP checksum checked */
#define IGB_RXD_STAT_L4I   (1u << 5)   /* TCP (L4 integrity) checksum checked */
#define IGB_RXD_STAT_IPCS  (1u << 6)   /* IPv4 header checksum checked */
#define IGB_RXD_ERR_L4E    (1u << 29)  /* TCP/UDP checksum wrong */
#define IGB_RXD_ERR_IPE    (1u << 30)  /* IPv4 header checksum wrong */
#define IGB_RXD_STATUS_MASK 0x000FFFFFu
#define IGB_RXD_ERRORS_SHIFT 20
#define IGB_RXD_RSS_TYPE_MASK 0x000Fu  /* pkt_info 3:0 */
/* Advanced transmit context descriptor (7.2.2.2), in a data descriptor's ring slot */
struct igb_adv_tx_context_desc {
    uint32_t vlan_macip_lens;   /* IPLEN 8:0, MACLEN 15:9, VLAN 31:16 */
    uint32_t seqnum_seed;
    uint32_t type_tucmd_mlhl;   /* TUCMD 19:9, DTYP 23:20, DEXT 29 */
    uint32_t mss_l4len_idx;     /* IDX 6:4, L4LEN 15:8, MSS 31:16 */
};
#define IGB_ADVTXD_DTYP_CTXT   0x00200000u
#define IGB_ADVTXD_DTYP_MASK   0x00F00000u
#define IGB_ADVTXD_MACLEN_SHIFT 9
#define IGB_ADVTXD_VLAN_SHIFT  16
#define IGB_ADVTXD_TUCMD_IPV4  0x00000400u
#define IGB_ADVTXD_TUCMD_L4T_UDP 0x00000000u
#define IGB_ADVTXD_TUCMD_L4T_TCP 0x00000800u
#define IGB_ADVTXD_L4LEN_SHIFT 8
#define IGB_ADVTXD_DCMD_VLE    0x40000000u  /* data: insert the context's VLAN tag */
#define IGB_ADVTXD_POPTS_IXSM  0x00000100u  /* data olinfo: insert the IPv4 checksum */
#define IGB_ADVTXD_POPTS_TXSM  0x00000200u  /* data olinfo: insert the TCP/UDP checksum */
_Static_assert(sizeof(struct igb_adv_tx_context_desc) == 16, "advanced TX context descriptor is 16 bytes");
#endif
