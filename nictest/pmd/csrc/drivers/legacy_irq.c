/* legacy_irq.c - the legacy (INTx) interrupt of the e1000-family MACs (legacy_irq.h).
 * 8254x SDM 13.4.17-13.4.21: ICR latches every cause and clears on read; the line is
 * asserted while (ICR & IMS) is not zero; IMS enables causes, IMC masks them (a cause
 * that arrives masked stays in ICR and asserts the line once unmasked). The line is
 * level-triggered: whoever takes the interrupt reads ICR (irq_ack), which deasserts it,
 * before the line is unmasked at the interrupt controller (VFIO automasks INTx). */
#include <errno.h>

#include "../regs.h"
#include "e1000_regs.h"
#include "legacy_irq.h"

#define LEGACY_IRQ_MASK_WORD 7   /* driver_state: the IMS causes legacy_irq_enable turned on */
/* A completed RX frame and a link change: what the feature suites ask a driver to raise. */
#define LEGACY_IRQ_CAUSES (E1000_ICR_RXT0 | E1000_ICR_LSC)

int legacy_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector)
{
    volatile uint8_t *bar = port->regs;
    if (rx_vector != 0 || other_vector != 0)
        return pmd_fail(EINVAL, "vectors %u/%u: the %s MAC raises every cause on its one INTx line (vector 0)",
                        rx_vector, other_vector, port->ops->name);
    set_reg32(bar, E1000_IMC, 0xFFFFFFFFu);
    set_reg32(bar, E1000_ITR, 0);           /* no throttling */
    set_reg32(bar, E1000_RDTR, 0);          /* RXT0 as each frame is written back */
    (void)get_reg32(bar, E1000_ICR);        /* nothing stale pending */
    set_reg32(bar, E1000_IMS, LEGACY_IRQ_CAUSES);
    port->driver_state[LEGACY_IRQ_MASK_WORD] = LEGACY_IRQ_CAUSES;
    uint32_t ims = get_reg32(bar, E1000_IMS);
    if ((ims & LEGACY_IRQ_CAUSES) != LEGACY_IRQ_CAUSES)
        return pmd_fail(EIO, "IMS read back 0x%08x after enabling causes 0x%08x", ims, LEGACY_IRQ_CAUSES);
    return 0;
}

int legacy_irq_mask(struct pmd_port *port, int masked)
{
    uint32_t causes = (uint32_t)port->driver_state[LEGACY_IRQ_MASK_WORD];
    set_reg32(port->regs, masked ? E1000_IMC : E1000_IMS, causes);
    (void)get_reg32(port->regs, E1000_STATUS); /* flush */
    return 0;
}

int legacy_irq_ack(struct pmd_port *port, uint32_t *causes)
{
    *causes = get_reg32(port->regs, E1000_ICR);
    return 0;
}

void legacy_irq_disable(struct pmd_port *port)
{
    set_reg32(port->regs, E1000_IMC, 0xFFFFFFFFu);
    (void)get_reg32(port->regs, E1000_ICR);   /* the line deasserted */
    port->driver_state[LEGACY_IRQ_MASK_WORD] = 0;
}
