/* e1000_family.c - the registers every e1000-family MAC keeps at the same offset
 * (see e1000_family.h). Register names: e1000_regs.h (the 82576 datasheet uses the
 * same names and offsets for these). */
#include <errno.h>

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

int e1000_family_read_stats(struct pmd_port *port, struct pmd_stats *acc)
{
    volatile uint8_t *bar = port->regs;
    acc->crc_errors += get_reg32(bar, E1000_CRCERRS);
    acc->rx_missed += get_reg32(bar, E1000_MPC);
    acc->rx_no_buffer += get_reg32(bar, E1000_RNBC);
    acc->rx_packets += get_reg32(bar, E1000_GPRC);
    acc->tx_packets += get_reg32(bar, E1000_GPTC);
    uint64_t lo = get_reg32(bar, E1000_GORCL);
    acc->rx_bytes += lo | ((uint64_t)get_reg32(bar, E1000_GORCH) << 32);
    lo = get_reg32(bar, E1000_GOTCL);
    acc->tx_bytes += lo | ((uint64_t)get_reg32(bar, E1000_GOTCH) << 32);
    return 0;
}
