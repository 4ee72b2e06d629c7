/* legacy_offload.c - VLAN and checksum offloads on legacy-descriptor rings (legacy_offload.h).
 * TX: a tag alone rides a legacy descriptor (CMD.VLE, special); checksums need a TCP/IP
 * context descriptor (where each checksum starts, sits and ends) followed by an extended
 * data descriptor (POPTS.IXSM/TXSM, DCMD.VLE). Both carry RS, so each reports DD and
 * legacy_tx_clean reaps them. RX: the legacy descriptor's status, errors and special. */
#include <errno.h>
#include <string.h>

#include "../packet.h"
#include "../regs.h"
#include "e1000_regs.h"
#include "legacy.h"
#include "legacy_offload.h"
#include "vlan_filter.h"

static const struct vlan_filter_regs vlan_regs = {
    .ctrl = E1000_CTRL, .ctrl_vme = E1000_CTRL_VME, .rctl = E1000_RCTL, .rctl_vfe = E1000_RCTL_VFE,
    .vet = E1000_VET, .vet_8021q = E1000_VET_8021Q, .vfta = E1000_VFTA(0), .vfta_entries = E1000_VFTA_ENTRIES,
};
static const struct rx_csum_regs rx_csum_regs = {
    .rxcsum = E1000_RXCSUM, .ipofld = E1000_RXCSUM_IPOFLD, .tuofld = E1000_RXCSUM_TUOFLD,
};

void legacy_offload_reset(volatile uint8_t *bar)
{
    vlan_filter_reset(bar, &vlan_regs);
}

int legacy_offload_tx(struct pmd_port *port, const uint8_t *frame, uint32_t len, const struct pmd_tx_offload *off)
{
    struct pmd_ring_state *tx = &port->tx;
    struct legacy_tx_desc *td = tx->desc;
    uint32_t mask = tx->size - 1;
    int ctx = off->ip_csum || off->l4_csum;
    if (len > PMD_BUF_SIZE)
        return pmd_fail(EINVAL, "offloaded frame of %u bytes: at most %d (one descriptor)", len, PMD_BUF_SIZE);
    if (off->vlan_insert && !(get_reg32(port->regs, E1000_CTRL) & E1000_CTRL_VME))
        return pmd_fail(EINVAL, "the %s MAC inserts VLAN tags only in VLAN mode (CTRL.VME): turn stripping on "
                                "(pmd_port_set_vlan) first", port->ops->name);
    uint32_t in_flight = (uint32_t)legacy_tx_clean(port);
    if (1u + (uint32_t)ctx > tx->size - 1 - in_flight)
        return 0;
    uint32_t i = tx->next;
    if (!ctx) {
        memset(&td[i], 0, sizeof td[i]);
        memcpy(tx->buf[i], frame, len);
        td[i].addr = tx->buf_bus[i];
        td[i].length = (uint16_t)len;
        td[i].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS |
                    (off->vlan_insert ? E1000_TXD_CMD_VLE : 0);
        td[i].special = (uint16_t)(off->vlan_insert ? off->vlan_tci : 0);
    } else {
        uint32_t maclen = PKT_ETH_LEN;
        if (len >= PKT_ETH_LEN + PKT_VLAN_LEN && frame[12] == (PKT_TPID >> 8) && frame[13] == (PKT_TPID & 0xff))
            maclen += PKT_VLAN_LEN;
        int tcp = len > maclen + 9 && frame[maclen + 9] == PMD_PKT_TCP;
        uint32_t tucss = maclen + PKT_IP_LEN, tucso = tucss + (tcp ? 16 : 6);
        uint32_t *c = (uint32_t *)&td[i];
        c[0] = maclen | (maclen + 10) << 8 | (maclen + PKT_IP_LEN - 1) << 16; /* IPCSS, IPCSO, IPCSE */
        c[1] = tucss | tucso << 8;                                           /* TUCSS, TUCSO, TUCSE 0: to the end */
        c[2] = len | E1000_TXD_DTYP_CTXT | E1000_TXD_CMD_IP | (tcp ? E1000_TXD_CMD_TCP : 0) | E1000_TXD_DCMD_RS |
               E1000_TXD_DCMD_DEXT;
        c[3] = 0;
        i = (i + 1) & mask;
        memcpy(tx->buf[i], frame, len);
        uint32_t *d = (uint32_t *)&td[i];
        td[i].addr = tx->buf_bus[i];
        d[2] = len | E1000_TXD_DTYP_DATA | E1000_TXD_DCMD_EOP | E1000_TXD_DCMD_IFCS | E1000_TXD_DCMD_RS |
               E1000_TXD_DCMD_DEXT | (off->vlan_insert ? E1000_TXD_DCMD_VLE : 0);
        d[3] = (off->ip_csum ? E1000_TXD_POPTS_IXSM : 0) | (off->l4_csum ? E1000_TXD_POPTS_TXSM : 0) |
               (off->vlan_insert ? (off->vlan_tci & 0xffff) << E1000_TXD_SPECIAL_SHIFT : 0);
    }
    tx->next = (i + 1) & mask;
    set_reg32(port->regs, E1000_TDT, tx->next);
    return 1;
}

int legacy_offload_rx_meta(struct pmd_port *port, struct pmd_rx_meta *m, uint8_t *buf, uint32_t cap)
{
    struct pmd_ring_state *rx = &port->rx;
    struct legacy_rx_desc *rd = rx->desc;
    uint32_t i = rx->next;
    volatile struct legacy_rx_desc *d = &rd[i];
    uint8_t status = d->status;
    if (!(status & E1000_RXD_STAT_DD))
        return 0;
    pmd_barrier(); /* the descriptor before the data it describes */
    uint32_t len = d->length;
    m->length = len < cap ? len : cap;
    memcpy(buf, rx->buf[i], m->length);
    uint8_t errors = d->errors;
    m->status = status;
    m->errors = errors;
    m->vlan_stripped = !!(status & E1000_RXD_STAT_VP);
    m->vlan_tci = m->vlan_stripped ? d->special : 0;
    m->ip_checked = !!(status & E1000_RXD_STAT_IPCS);
    m->ip_error = !!(errors & E1000_RXD_ERR_IPE);
    m->l4_checked = !!(status & (E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_UDPCS));
    m->l4_error = !!(errors & E1000_RXD_ERR_TCPE);
    d->addr = rx->buf_bus[i];
    d->status = 0;
    rx->next = (i + 1) & (rx->size - 1);
    set_reg32(port->regs, E1000_RDT, i);
    return 1;
}

int legacy_offload_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg)
{
    return vlan_filter_apply(port->regs, &vlan_regs, cfg);
}

int legacy_offload_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4)
{
    return rx_csum_apply(port->regs, &rx_csum_regs, ip, l4);
}
