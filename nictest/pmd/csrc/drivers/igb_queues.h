/* igb_queues.h - the 82576 PF's queues 1..15 and RSS (igb_queues.c), for igb.c's ops. */
#ifndef NICTEST_PMD_IGB_QUEUES_H
#define NICTEST_PMD_IGB_QUEUES_H
#include "../internal.h"

/* Bring up the RX/TX queues 1.. of port->queues (rings reprogrammed) and write its RSS
 * settings (MRQC, RSSRK, RETA, RXCSUM.PCSD); queue 0 stays as igb_init left it. */
int igb_queues_apply(struct pmd_port *port);
int igb_rx_queue_enable(struct pmd_port *port, uint32_t q, int on);
int igb_rx_queue_burst(struct pmd_port *port, uint32_t q, uint32_t max, struct pmd_rx_frame *out);
int igb_tx_queue_frame(struct pmd_port *port, uint32_t q, const uint8_t *frame, uint32_t len);
#endif
