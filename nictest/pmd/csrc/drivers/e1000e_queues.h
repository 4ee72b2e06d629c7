/* e1000e_queues.h - the 82574L's second RX/TX queue and RSS (e1000e_queues.c), for e1000e.c's ops.
 * With queues set up the MAC runs extended RX descriptors on both queues (the RSS hash is
 * only in their write-back), so queue 0's receive path switches with them. */
#ifndef NICTEST_PMD_E1000E_QUEUES_H
#define NICTEST_PMD_E1000E_QUEUES_H
#include "../internal.h"

#define E1000E_EXT_RX_WORD 2    /* driver_state: 1 while the RX rings hold extended descriptors */
#define E1000E_TX_UP_WORD 3     /* driver_state: bit q, TX queue q's ring is programmed */

/* Extended RX descriptor (82574 datasheet 7.1.4.2): read format addr + 0; write-back below. */
union e1000e_ext_rx_desc {
    struct {
        uint64_t addr;
        uint64_t reserved;
    } read;
    struct {
        uint32_t mrq;          /* bits 3:0 RSS type, 12:8 queue */
        uint32_t rss;          /* the RSS hash (RXCSUM.PCSD set) */
        uint32_t status_error; /* status 19:0, errors 31:24 */
        uint16_t length;
        uint16_t vlan;
    } wb;
};
_Static_assert(sizeof(union e1000e_ext_rx_desc) == 16, "extended RX descriptor is 16 bytes");

int e1000e_queues_apply(struct pmd_port *port);
int e1000e_rx_queue_burst(struct pmd_port *port, uint32_t q, uint32_t max, struct pmd_rx_frame *out);
int e1000e_tx_queue_frame(struct pmd_port *port, uint32_t q, const uint8_t *frame, uint32_t len);
/* Queue 0's rx_burst while the rings are extended. */
int e1000e_ext_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx);
#endif
