/* igb_offload.c - 82576 PF queue 0 offloads (igb_offload.h): TX through an advanced
 * context descriptor (VLAN tag, IPLEN/MACLEN/L4 type) followed by one data descriptor
 * (DCMD.VLE, POPTS.IXSM/TXSM); RX metadata from the advanced write-back descriptor;
 * CTRL.VME / VFTA / RCTL.VFE and RXCSUM for the receive side (vlan_filter.c). */
#include <errno.h>
#include <string.h>

#include "../packet.h"
#include "../regs.h"
#include "igb_family.h"
#include "igb_offload.h"
#include "igb_regs.h"
#include "vlan_filter.h"

static const struct vlan_filter_regs vlan_regs = {
    .ctrl = IGB_CTRL, .ctrl_vme = IGB_CTRL_VME, .rctl = IGB_RCTL, .rctl_vfe = IGB_RCTL_VFE,
    .vet = IGB_VET, .vet_8021q = IGB_VET_8021Q, .vfta = IGB_VFTA(0), .vfta_entries = IGB_VFTA_ENTRIES,
};
static const struct rx_csum_regs rx_csum_regs = {
    .rxcsum = IGB_RXCSUM, .ipofld = IGB_RXCSUM_IPOFLD, .tuofld = IGB_RXCSUM_TUOFLD,
};

void igb_offload_reset(volatile uint8_t *bar)
{
    vlan_filter_reset(bar, &vlan_regs);
}

static int is_context(volatile union igb_adv_tx_desc *d)
{
    volatile struct igb_adv_tx_context_desc *c = (volatile struct igb_adv_tx_context_desc *)d;
    return (c->type_tucmd_mlhl & (IGB_ADVTXD_DTYP_MASK | IGB_ADVTXD_DCMD_DEXT)) ==
           (IGB_ADVTXD_DTYP_CTXT | IGB_ADVTXD_DCMD_DEXT);
}

int igb_offload_tx_clean(struct pmd_port *port)
{
    struct pmd_ring_state *tx = &port->tx;
    volatile union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    while (tx->clean != tx->next) {
        uint32_t after = (tx->clean + 1) & mask;
        if (!(td[tx->clean].wb.status & IGB_TXD_STAT_DD) &&
            !(is_context(&td[tx->clean]) && after != tx->next && (td[after].wb.status & IGB_TXD_STAT_DD)))
            break;
        tx->clean = after;
    }
    return (int)((tx->next - tx->clean) & mask);
}

int igb_offload_tx(struct pmd_port *port, const uint8_t *frame, uint32_t len, const struct pmd_tx_offload *off)
{
    struct pmd_ring_state *tx = &port->tx;
    union igb_adv_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    int ctx = off->vlan_insert || off->ip_csum || off->l4_csum;
    if (len > PMD_BUF_SIZE)
        return pmd_fail(EINVAL, "offloaded frame of %u bytes: at most %d (one descriptor)", len, PMD_BUF_SIZE);
    uint32_t in_flight = (uint32_t)igb_offload_tx_clean(port);
    if (1u + (uint32_t)ctx > tx->size - 1 - in_flight)
        return 0;
    uint32_t cmd = len | IGB_ADVTXD_DTYP_DATA | IGB_ADVTXD_DCMD_DEXT | IGB_ADVTXD_DCMD_IFCS |
                   IGB_ADVTXD_DCMD_RS | IGB_ADVTXD_DCMD_EOP;
    uint32_t olinfo = len << IGB_ADVTXD_PAYLEN_SHIFT;
    if (ctx) {
        uint32_t maclen = PKT_ETH_LEN, i = tx->next;
        if (len >= PKT_ETH_LEN + PKT_VLAN_LEN && frame[12] == (PKT_TPID >> 8) && frame[13] == (PKT_TPID & 0xff))
            maclen += PKT_VLAN_LEN;
        uint32_t tucmd = IGB_ADVTXD_TUCMD_IPV4, l4len = PKT_UDP_LEN;
        if (len > maclen + 9 && frame[maclen + 9] == PMD_PKT_TCP) {
            tucmd |= IGB_ADVTXD_TUCMD_L4T_TCP;
            l4len = PKT_TCP_LEN;
        }
        struct igb_adv_tx_context_desc *c = (struct igb_adv_tx_context_desc *)&td[i];
        c->vlan_macip_lens = PKT_IP_LEN | maclen << IGB_ADVTXD_MACLEN_SHIFT |
                             (off->vlan_insert ? (off->vlan_tci & 0xffff) << IGB_ADVTXD_VLAN_SHIFT : 0);
        c->seqnum_seed = 0;
        c->type_tucmd_mlhl = IGB_ADVTXD_DTYP_CTXT | IGB_ADVTXD_DCMD_DEXT | tucmd;
        c->mss_l4len_idx = l4len << IGB_ADVTXD_L4LEN_SHIFT; /* context index 0 */
        tx->next = (i + 1) & mask;
        if (off->vlan_insert)
            cmd |= IGB_ADVTXD_DCMD_VLE;
        if (off->ip_csum)
            olinfo |= IGB_ADVTXD_POPTS_IXSM;
        if (off->l4_csum)
            olinfo |= IGB_ADVTXD_POPTS_TXSM;
    }
    uint32_t i = tx->next;
    memcpy(tx->buf[i], frame, len);
    td[i].read.buffer_addr = tx->buf_bus[i];
    td[i].read.olinfo_status = olinfo;
    td[i].read.cmd_type_len = cmd;
    tx->next = (i + 1) & mask;
    set_reg32(port->regs, IGB_TDT(0), tx->next);
    return 1;
}

int igb_offload_rx_meta(struct pmd_port *port, struct pmd_rx_meta *m, uint8_t *buf, uint32_t cap)
{
    struct pmd_ring_state *rx = &port->rx;
    union igb_adv_rx_desc *rd = rx->desc;
    uint32_t i = rx->next;
    volatile union igb_adv_rx_desc *d = &rd[i];
    uint32_t se = d->wb.status_error;
    if (!(se & IGB_RXD_STAT_DD))
        return 0;
    pmd_barrier(); /* the descriptor before the data it describes */
    uint32_t len = d->wb.length;
    /* A frame spanning descriptors is not one of ours: its pieces are handed up with
     * their lengths and fail the parse. */
    m->length = len < cap ? len : cap;
    memcpy(buf, rx->buf[i], m->length);
    m->status = se & IGB_RXD_STATUS_MASK;
    m->errors = se >> IGB_RXD_ERRORS_SHIFT;
    m->vlan_stripped = !!(se & IGB_RXD_STAT_VP);
    m->vlan_tci = m->vlan_stripped ? d->wb.vlan : 0;
    m->ip_checked = !!(se & IGB_RXD_STAT_IPCS);
    m->ip_error = !!(se & IGB_RXD_ERR_IPE);
    m->l4_checked = !!(se & (IGB_RXD_STAT_L4I | IGB_RXD_STAT_UDPCS));
    m->l4_error = !!(se & IGB_RXD_ERR_L4E);
    if (get_reg32(port->regs, IGB_RXCSUM) & IGB_RXCSUM_PCSD) {
        m->rss_hash = d->wb.rss;
        m->rss_type = d->wb.pkt_info & IGB_RXD_RSS_TYPE_MASK;
    }
    m->queue = 0;
    d->read.pkt_addr = rx->buf_bus[i];
    d->read.hdr_addr = 0;
    rx->next = (i + 1) & (rx->size - 1);
    set_reg32(port->regs, IGB_RDT(0), i);
    return 1;
}

int igb_offload_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg)
{
    return vlan_filter_apply(port->regs, &vlan_regs, cfg);
}

int igb_offload_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4)
{
    return rx_csum_apply(port->regs, &rx_csum_regs, ip, l4);
}
