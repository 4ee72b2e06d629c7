/* igbvf_regs.h - Intel 82576 virtual function (8086:10ca) registers and the PF/VF
 * mailbox. Offsets into the VF's BAR0 as in the 82576 datasheet's VF register
 * section (8.28, "Virtual Function Device Registers") and Linux
 * drivers/net/ethernet/intel/igbvf (regs.h, mbx.h, defines.h). A VF has two
 * queue pairs at the 8254x-compatible addresses (0x2800 / 0x3800 + 0x100 * n); it
 * has no RCTL/TCTL, no receive address registers and no PHY: the PF's kernel
 * driver owns those and serves the VF's requests through the mailbox. The
 * advanced descriptors are the PF's (igb_regs.h). */
#ifndef NICTEST_PMD_IGBVF_REGS_H
#define NICTEST_PMD_IGBVF_REGS_H
#include <stdint.h>

/* General */
#define IGBVF_CTRL      0x00000  /* VF control: only RST (resets the VF's queues and interrupts) */
#define IGBVF_STATUS    0x00008  /* the PF's device status, read-only (LU: link up) */
#define IGBVF_CTRL_RST  (1u << 26)

/* Interrupts: three MSI-X vectors, polling only, all masked */
#define IGBVF_EICR      0x01580  /* extended interrupt cause, clear on read */
#define IGBVF_EIMS      0x01524
#define IGBVF_EIMC      0x01528
#define IGBVF_EIAC      0x0152C
#define IGBVF_EIAM      0x01530
#define IGBVF_EIMS_ALL  0x7u     /* the VF's three vectors */

/* PF/VF mailbox (datasheet 7.8.2.9): V2PMAILBOX control bits and a 16-word buffer */
#define IGBVF_V2PMAILBOX 0x00C40
#define IGBVF_VMBMEM     0x00800
#define IGBVF_VFMAILBOX_SIZE 16         /* 32-bit words */
#define IGBVF_V2PMAILBOX_REQ   (1u << 0) /* VF: a message for the PF is in the buffer */
#define IGBVF_V2PMAILBOX_ACK   (1u << 1) /* VF: the PF's message was read */
#define IGBVF_V2PMAILBOX_VFU   (1u << 2) /* the VF owns the buffer */
#define IGBVF_V2PMAILBOX_PFU   (1u << 3) /* the PF owns the buffer */
#define IGBVF_V2PMAILBOX_PFSTS (1u << 4) /* PF wrote a message (clear on read) */
#define IGBVF_V2PMAILBOX_PFACK (1u << 5) /* PF read the VF's message (clear on read) */
#define IGBVF_V2PMAILBOX_RSTI  (1u << 6) /* PF is resetting */
#define IGBVF_V2PMAILBOX_RSTD  (1u << 7) /* PF finished a reset (clear on read) */
#define IGBVF_V2PMAILBOX_R2C_BITS (IGBVF_V2PMAILBOX_PFSTS | IGBVF_V2PMAILBOX_PFACK | IGBVF_V2PMAILBOX_RSTD)

/* Mailbox messages (Linux igbvf/mbx.h): word 0 is the type, the PF answers with
 * the same type | ACK (done) or | NACK (refused); CTS: the VF may send requests. */
#define IGBVF_VT_MSGTYPE_ACK   0x80000000u
#define IGBVF_VT_MSGTYPE_NACK  0x40000000u
#define IGBVF_VT_MSGTYPE_CTS   0x20000000u
#define IGBVF_VT_MSGINFO_SHIFT 16
#define IGBVF_VF_RESET         0x01u     /* VF reset done: the PF enables its queues, answers with the MAC */
#define IGBVF_VF_SET_MAC_ADDR  0x02u
#define IGBVF_VF_SET_MULTICAST 0x03u
#define IGBVF_VF_SET_LPE       0x05u     /* largest frame the VF receives (VMOLR.RLPML) */
#define IGBVF_PF_CONTROL_MSG   0x0100u   /* PF -> VF notice (link or reset change), not an answer */

/* Queue 0 (the datasheet's VF RDBAL0 ... TXDCTL0); queue 1 is + 0x100 */
#define IGBVF_RX_QUEUE0 0x02800  /* RDBAL0; the block's layout: igb_family.h */
#define IGBVF_TX_QUEUE0 0x03800  /* TDBAL0 */
#define IGBVF_RDBAL0    0x02800
#define IGBVF_RDBAH0    0x02804
#define IGBVF_RDLEN0    0x02808
#define IGBVF_SRRCTL0   0x0280C
#define IGBVF_RDH0      0x02810
#define IGBVF_RDT0      0x02818
#define IGBVF_RXDCTL0   0x02828
#define IGBVF_TDBAL0    0x03800
#define IGBVF_TDBAH0    0x03804
#define IGBVF_TDLEN0    0x03808
#define IGBVF_TDH0      0x03810
#define IGBVF_TDT0      0x03818
#define IGBVF_TXDCTL0   0x03828
#define IGBVF_TDWBAL0   0x03838
#define IGBVF_TDWBAH0   0x0383C
#define IGBVF_NUM_QUEUES 2
#define IGBVF_QUEUE_ENABLE (1u << 25) /* RXDCTL/TXDCTL.ENABLE */

/* Statistics: free-running 32-bit counters, NOT cleared on read (they wrap) */
#define IGBVF_VFGPRC    0x00F10  /* good packets received */
#define IGBVF_VFGPTC    0x00F14  /* good packets transmitted */
#define IGBVF_VFGORC    0x00F18  /* good octets received */
#define IGBVF_VFGOTC    0x00F34  /* good octets transmitted */
#define IGBVF_VFMPRC    0x00F3C  /* multicast packets received */
#endif
