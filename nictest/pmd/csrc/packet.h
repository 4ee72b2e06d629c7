/* packet.h - IPv4 UDP/TCP test frames (packet.c): build, parse, checksums.
 * The public API (pmd_packet_build / pmd_packet_parse, the structs) is in pmd.h. */
#ifndef NICTEST_PMD_PACKET_H
#define NICTEST_PMD_PACKET_H
#include <stdint.h>
#include "pmd.h"

#define PKT_ETH_LEN 14
#define PKT_VLAN_LEN 4
#define PKT_IP_LEN 20
#define PKT_UDP_LEN 8
#define PKT_TCP_LEN 20
#define PKT_NTPM_LEN 16          /* magic 4, seq 8, payload length 2, kind 2 */
#define PKT_TPID 0x8100
#define PKT_ETHERTYPE_IPV4 0x0800

/* Offsets of a built frame's headers. */
struct pkt_layout {
    uint32_t l3;                 /* IPv4 header */
    uint32_t l4;                 /* UDP/TCP header */
    uint32_t l4_len;             /* UDP/TCP header bytes */
    uint32_t payload;            /* NTPM header */
};

/* One's-complement sum of len bytes (big-endian 16-bit words) added to sum, unfolded. */
uint32_t pkt_sum(const uint8_t *p, uint32_t len, uint32_t sum);
uint16_t pkt_fold(uint32_t sum);
/* The IPv4 pseudo-header sum (addresses, protocol, L4 length), unfolded. */
uint32_t pkt_pseudo_sum(const uint8_t *ip, uint32_t l4_len);
/* Header offsets for a spec (l4, vlan_tagged); -EINVAL naming what is wrong. */
int pkt_layout_for(const struct pmd_pkt_spec *spec, struct pkt_layout *lay);
#endif
