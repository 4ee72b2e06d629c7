/* legacy_irq.h - interrupts of the e1000-family MACs on their legacy INTx line
 * (legacy_irq.c): every cause shares the one line, so a driver's rx and other
 * "vectors" are both vector 0 of VFIO's INTx index. */
#ifndef NICTEST_PMD_LEGACY_IRQ_H
#define NICTEST_PMD_LEGACY_IRQ_H
#include "../internal.h"

int legacy_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector);
int legacy_irq_mask(struct pmd_port *port, int masked);
int legacy_irq_ack(struct pmd_port *port, uint32_t *causes);
void legacy_irq_disable(struct pmd_port *port);

#define LEGACY_INTX_OPS                                                                  \
    .irq_enable = legacy_irq_enable, .irq_mask = legacy_irq_mask,                        \
    .irq_ack = legacy_irq_ack, .irq_disable = legacy_irq_disable
#endif
