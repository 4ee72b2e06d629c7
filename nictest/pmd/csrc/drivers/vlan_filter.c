/* vlan_filter.c - VLAN mode, the VLAN filter table and RX checksum offload on the
 * e1000 and igb families (vlan_filter.h). */
#include <errno.h>

#include "../regs.h"
#include "vlan_filter.h"

static uint32_t vfta_reg(const struct vlan_filter_regs *r, uint32_t k)
{
    return r->vfta + 4u * k;
}

void vlan_filter_reset(volatile uint8_t *bar, const struct vlan_filter_regs *r)
{
    set_reg32(bar, r->ctrl, get_reg32(bar, r->ctrl) & ~r->ctrl_vme);
    set_reg32(bar, r->vet, r->vet_8021q);
    for (uint32_t k = 0; k < r->vfta_entries; k++)
        set_reg32(bar, vfta_reg(r, k), 0);
}

int vlan_filter_apply(volatile uint8_t *bar, const struct vlan_filter_regs *r, const struct pmd_vlan_config *cfg)
{
    uint32_t vfta[VLAN_FILTER_MAX_ENTRIES] = {0};
    if (r->vfta_entries > VLAN_FILTER_MAX_ENTRIES)
        return pmd_fail(EINVAL, "a VFTA of %u entries is more than the %u 4096 VIDs need", r->vfta_entries,
                        VLAN_FILTER_MAX_ENTRIES);
    for (uint32_t k = 0; k < cfg->count; k++)
        vfta[cfg->vids[k] >> 5] |= 1u << (cfg->vids[k] & 31);
    set_reg32(bar, r->vet, r->vet_8021q);
    for (uint32_t k = 0; k < r->vfta_entries; k++)
        set_reg32(bar, vfta_reg(r, k), vfta[k]);
    uint32_t ctrl = get_reg32(bar, r->ctrl);
    ctrl = cfg->strip ? ctrl | r->ctrl_vme : ctrl & ~r->ctrl_vme;
    set_reg32(bar, r->ctrl, ctrl);
    uint32_t rctl = get_reg32(bar, r->rctl);
    rctl = cfg->filter ? rctl | r->rctl_vfe : rctl & ~r->rctl_vfe;
    set_reg32(bar, r->rctl, rctl);
    for (uint32_t k = 0; k < r->vfta_entries; k++)
        if (get_reg32(bar, vfta_reg(r, k)) != vfta[k])
            return pmd_fail(EIO, "VFTA[%u] read back 0x%08x, wrote 0x%08x", k, get_reg32(bar, vfta_reg(r, k)),
                            vfta[k]);
    if ((get_reg32(bar, r->ctrl) & r->ctrl_vme) != (ctrl & r->ctrl_vme) ||
        (get_reg32(bar, r->rctl) & r->rctl_vfe) != (rctl & r->rctl_vfe))
        return pmd_fail(EIO, "CTRL.VME/RCTL.VFE did not take (CTRL 0x%08x, RCTL 0x%08x)", get_reg32(bar, r->ctrl),
                        get_reg32(bar, r->rctl));
    return 0;
}

int rx_csum_apply(volatile uint8_t *bar, const struct rx_csum_regs *r, uint32_t ip, uint32_t l4)
{
    uint32_t v = get_reg32(bar, r->rxcsum) & ~(r->ipofld | r->tuofld);
    v |= (ip ? r->ipofld : 0) | (l4 ? r->tuofld : 0);
    set_reg32(bar, r->rxcsum, v);
    uint32_t back = get_reg32(bar, r->rxcsum);
    if (back != v)
        return pmd_fail(EIO, "RXCSUM read back 0x%08x, wrote 0x%08x", back, v);
    return 0;
}
