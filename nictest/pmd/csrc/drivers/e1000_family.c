/* e1000_family.c - the registers every e1000-family MAC keeps at the same offset
 * (see e1000_family.h). Register names: e1000_regs.h (the 82576 datasheet uses the
 * same names and offsets for these). */
#include <errno.h>
#include <string.h>

#include "../regs.h"
#include "e1000_family.h"
#include "e1000_regs.h"

int e1000_family_read_mac(struct pmd_port *port, uint8_t mac[6])
{
    uint32_t ral = get_reg32(port->regs, E1000_RAL0);
    uint32_t rah = get_reg32(port->regs, E1000_RAH0);
    if (!(rah & E1000_RAH_AV))
        return pmd_fail(ENODATA, "RAH0 = 0x%08x: address-valid bit clear, no MAC programmed", rah);
    for (int i = 0; i < 4; i++)
        mac[i] = (uint8_t)(ral >> (8 * i));
    mac[4] = (uint8_t)rah;
    mac[5] = (uint8_t)(rah >> 8);
    return 0;
}

int e1000_family_link(struct pmd_port *port, int *up, uint32_t *status)
{
    uint32_t s = get_reg32(port->regs, E1000_STATUS);
    if (status)
        *status = s;
    if (up)
        *up = !!(s & E1000_STATUS_LU);
    return 0;
}

static uint64_t read64(volatile uint8_t *bar, uint32_t lo, uint32_t hi)
{
    uint64_t low = get_reg32(bar, lo); /* low half first: reading the high half clears both */
    return low | ((uint64_t)get_reg32(bar, hi) << 32);
}

int e1000_family_read_stats(struct pmd_port *port, struct pmd_stats *acc)
{
    volatile uint8_t *bar = port->regs;
    acc->crc_errors += get_reg32(bar, E1000_CRCERRS);
    acc->rx_missed += get_reg32(bar, E1000_MPC);
    acc->rx_no_buffer += get_reg32(bar, E1000_RNBC);
    acc->rx_length_errors += get_reg32(bar, E1000_RLEC);
    acc->rx_undersize += get_reg32(bar, E1000_RUC);
    acc->rx_oversize += get_reg32(bar, E1000_ROC);
    acc->rx_broadcast += get_reg32(bar, E1000_BPRC);
    acc->rx_multicast += get_reg32(bar, E1000_MPRC);
    /* The good and the total counters are read together: QEMU's e1000 and igb copy
     * TPR/TOR/TPT/TOT into GPRC/GORC/GPTC/GOTC on every frame, so a good counter
     * clears on read only once its total counter is read too. */
    acc->rx_packets += get_reg32(bar, E1000_GPRC);
    acc->rx_total_packets += get_reg32(bar, E1000_TPR);
    acc->rx_bytes += read64(bar, E1000_GORCL, E1000_GORCH);
    acc->rx_total_bytes += read64(bar, E1000_TORL, E1000_TORH);
    acc->tx_packets += get_reg32(bar, E1000_GPTC);
    acc->tx_total_packets += get_reg32(bar, E1000_TPT);
    acc->tx_bytes += read64(bar, E1000_GOTCL, E1000_GOTCH);
    acc->tx_total_bytes += read64(bar, E1000_TOTL, E1000_TOTH);
    acc->tx_broadcast += get_reg32(bar, E1000_BPTC);
    acc->tx_multicast += get_reg32(bar, E1000_MPTC);
    return 0;
}

int e1000_family_set_rx_mode(struct pmd_port *port, uint32_t mode)
{
    volatile uint8_t *bar = port->regs;
    uint32_t rctl = get_reg32(bar, E1000_RCTL) & ~(E1000_RCTL_FILTER_BITS | E1000_RCTL_MO_MASK);
    if (mode & PMD_RX_UNICAST_PROMISC)
        rctl |= E1000_RCTL_UPE;
    if (mode & PMD_RX_MULTICAST_PROMISC)
        rctl |= E1000_RCTL_MPE;
    if (mode & PMD_RX_BROADCAST)
        rctl |= E1000_RCTL_BAM;
    set_reg32(bar, E1000_RCTL, rctl);
    uint32_t back = get_reg32(bar, E1000_RCTL);
    if ((back & (E1000_RCTL_FILTER_BITS | E1000_RCTL_MO_MASK)) != (rctl & (E1000_RCTL_FILTER_BITS | E1000_RCTL_MO_MASK)))
        return pmd_fail(EIO, "RCTL read back 0x%08x after writing 0x%08x (UPE/MPE/BAM/MO)", back, rctl);
    return 0;
}

int e1000_family_set_mac_filter(struct pmd_port *port, uint32_t index, const uint8_t *mac)
{
    volatile uint8_t *bar = port->regs;
    /* AV cleared first so a half-written entry never matches. */
    set_reg32(bar, E1000_RAH(index), 0);
    if (!mac)
        return 0;
    uint32_t ral = (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24;
    uint32_t rah = (uint32_t)mac[4] | (uint32_t)mac[5] << 8 | E1000_RAH_AV;
    set_reg32(bar, E1000_RAL(index), ral);
    set_reg32(bar, E1000_RAH(index), rah);
    uint32_t back_l = get_reg32(bar, E1000_RAL(index)), back_h = get_reg32(bar, E1000_RAH(index));
    if (back_l != ral || (back_h & 0x8000FFFFu) != rah)
        return pmd_fail(EIO, "RAL/RAH[%u] read back 0x%08x/0x%08x after writing 0x%08x/0x%08x", index, back_l,
                        back_h, ral, rah);
    return 0;
}

/* RCTL.MO 00: the 12-bit hash is destination address bits [47:36]. */
static uint32_t mta_hash(const uint8_t *mac) { return ((uint32_t)mac[4] >> 4 | (uint32_t)mac[5] << 4) & 0xFFFu; }

int e1000_family_set_mc_table(struct pmd_port *port, const uint8_t *macs, uint32_t count)
{
    uint32_t mta[E1000_MTA_REGS];
    memset(mta, 0, sizeof mta);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t h = mta_hash(macs + 6 * i);
        mta[h >> 5] |= 1u << (h & 31);
    }
    for (uint32_t r = 0; r < E1000_MTA_REGS; r++)
        set_reg32(port->regs, E1000_MTA + 4 * r, mta[r]);
    for (uint32_t r = 0; r < E1000_MTA_REGS; r++)
        if (get_reg32(port->regs, E1000_MTA + 4 * r) != mta[r])
            return pmd_fail(EIO, "MTA[%u] read back 0x%08x after writing 0x%08x", r,
                            get_reg32(port->regs, E1000_MTA + 4 * r), mta[r]);
    return 0;
}
