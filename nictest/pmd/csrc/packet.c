/* packet.c - build and check IPv4 UDP/TCP test frames (pmd.h, packet.h). */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "packet.h"

static const uint8_t MAGIC[4] = {'N', 'T', 'P', 'M'};

static void be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, v >> 16); be16(p + 2, v & 0xffff); }
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) << 16 | rd16(p + 2); }

uint32_t pkt_sum(const uint8_t *p, uint32_t len, uint32_t sum)
{
    uint32_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += rd16(p + i);
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

uint16_t pkt_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

uint32_t pkt_pseudo_sum(const uint8_t *ip, uint32_t l4_len)
{
    uint32_t sum = pkt_sum(ip + 12, 8, 0); /* source and destination address */
    return sum + ip[9] + l4_len;
}

int pkt_layout_for(const struct pmd_pkt_spec *spec, struct pkt_layout *lay)
{
    if (spec->l4 != PMD_PKT_UDP && spec->l4 != PMD_PKT_TCP)
        return pmd_fail(EINVAL, "packet l4 %u: PMD_PKT_UDP (17) or PMD_PKT_TCP (6)", spec->l4);
    if (spec->csum > PMD_CSUM_NIC)
        return pmd_fail(EINVAL, "packet csum %u: PMD_CSUM_GOOD/BAD_IP/BAD_L4/NIC (0..3)", spec->csum);
    lay->l3 = PKT_ETH_LEN + (spec->vlan_tagged ? PKT_VLAN_LEN : 0);
    lay->l4 = lay->l3 + PKT_IP_LEN;
    lay->l4_len = spec->l4 == PMD_PKT_UDP ? PKT_UDP_LEN : PKT_TCP_LEN;
    lay->payload = lay->l4 + lay->l4_len;
    uint32_t min = lay->payload + PKT_NTPM_LEN;
    if (min < PMD_FRAME_MIN)
        min = PMD_FRAME_MIN;
    uint32_t max = PMD_FRAME_MAX + (spec->vlan_tagged ? PKT_VLAN_LEN : 0);
    if (spec->size < min || spec->size > max)
        return pmd_fail(EINVAL, "packet size %u: %u..%u bytes without FCS for this header stack", spec->size, min,
                        max);
    return 0;
}

int pmd_packet_build(const struct pmd_pkt_spec *s, uint8_t *buf, uint32_t cap)
{
    struct pkt_layout lay;
    int rc;
    pmd_clear_error();
    if ((rc = pkt_layout_for(s, &lay)) < 0)
        return rc;
    if (cap < s->size)
        return pmd_fail(ENOSPC, "packet of %u bytes: buffer holds %u", s->size, cap);
    memset(buf, 0, s->size);
    memcpy(buf, s->dst, 6);
    memcpy(buf + 6, s->src, 6);
    uint8_t *p = buf + 12;
    if (s->vlan_tagged) {
        be16(p, PKT_TPID);
        be16(p + 2, s->vlan_tci & 0xffff);
        p += 4;
    }
    be16(p, PKT_ETHERTYPE_IPV4);

    uint32_t ip_total = s->size - lay.l3, l4_total = s->size - lay.l4;
    uint8_t *ip = buf + lay.l3, *l4 = buf + lay.l4, *pl = buf + lay.payload;
    ip[0] = 0x45;                        /* IPv4, 5 words */
    be16(ip + 2, ip_total);
    be16(ip + 4, (uint32_t)s->seq & 0xffff); /* identification */
    be16(ip + 6, 0x4000);                /* DF */
    ip[8] = 64;
    ip[9] = (uint8_t)s->l4;
    be32(ip + 12, s->src_ip);
    be32(ip + 16, s->dst_ip);

    be16(l4, s->src_port & 0xffff);
    be16(l4 + 2, s->dst_port & 0xffff);
    uint32_t csum_off;
    if (s->l4 == PMD_PKT_UDP) {
        be16(l4 + 4, l4_total);
        csum_off = 6;
    } else {
        be32(l4 + 4, (uint32_t)s->seq);  /* sequence number */
        l4[12] = (PKT_TCP_LEN / 4) << 4;
        l4[13] = 0x18;                   /* PSH ACK */
        be16(l4 + 14, 0xffff);           /* window */
        csum_off = 16;
    }

    uint32_t payload_len = s->size - lay.payload;
    memcpy(pl, MAGIC, 4);
    memcpy(pl + 4, &s->seq, 8);          /* x86: little endian */
    pl[12] = (uint8_t)payload_len;
    pl[13] = (uint8_t)(payload_len >> 8);
    for (uint32_t i = PKT_NTPM_LEN; i < payload_len; i++)
        pl[i] = (uint8_t)(s->seq * 31 + i);

    if (s->csum == PMD_CSUM_NIC) {
        /* What a stack hands a NIC that inserts checksums: the pseudo-header sum in the L4 field. */
        be16(l4 + csum_off, pkt_fold(pkt_pseudo_sum(ip, l4_total)));
        return (int)s->size;
    }
    uint16_t l4c = (uint16_t)~pkt_fold(pkt_sum(l4, l4_total, pkt_pseudo_sum(ip, l4_total)));
    if (s->l4 == PMD_PKT_UDP && l4c == 0)
        l4c = 0xffff;
    if (s->csum == PMD_CSUM_BAD_L4)
        l4c = (uint16_t)(l4c ^ 0x5a5a);
    be16(l4 + csum_off, l4c);
    uint16_t ipc = (uint16_t)~pkt_fold(pkt_sum(ip, PKT_IP_LEN, 0));
    if (s->csum == PMD_CSUM_BAD_IP)
        ipc = (uint16_t)(ipc ^ 0x5a5a);
    be16(ip + 10, ipc);
    return (int)s->size;
}

int pmd_packet_parse(const uint8_t *f, uint32_t len, struct pmd_pkt_info *o)
{
    memset(o, 0, sizeof *o);
    o->length = len;
    if (len < PKT_ETH_LEN + PKT_IP_LEN)
        return 0;
    uint32_t l3 = PKT_ETH_LEN;
    if (rd16(f + 12) == PKT_TPID) {
        o->vlan_tagged = 1;
        o->vlan_tci = rd16(f + 14);
        l3 += PKT_VLAN_LEN;
    }
    if (rd16(f + l3 - 2) != PKT_ETHERTYPE_IPV4 || len < l3 + PKT_IP_LEN)
        return 0;
    const uint8_t *ip = f + l3;
    if (ip[0] != 0x45 || (ip[9] != PMD_PKT_UDP && ip[9] != PMD_PKT_TCP))
        return 0;
    uint32_t ip_total = rd16(ip + 2);
    if (ip_total < PKT_IP_LEN || l3 + ip_total > len)
        return 0;
    o->l4 = ip[9];
    o->src_ip = rd32(ip + 12);
    o->dst_ip = rd32(ip + 16);
    o->ip_csum_ok = pkt_fold(pkt_sum(ip, PKT_IP_LEN, 0)) == 0xffff;
    uint32_t l4_len = o->l4 == PMD_PKT_UDP ? PKT_UDP_LEN : PKT_TCP_LEN;
    uint32_t l4_total = ip_total - PKT_IP_LEN;
    if (l4_total < l4_len + PKT_NTPM_LEN)
        return 0;
    const uint8_t *l4 = ip + PKT_IP_LEN, *pl = l4 + l4_len;
    o->src_port = rd16(l4);
    o->dst_port = rd16(l4 + 2);
    if (o->l4 == PMD_PKT_UDP && rd16(l4 + 4) != l4_total)
        return 0;
    uint32_t csum_field = rd16(l4 + (o->l4 == PMD_PKT_UDP ? 6 : 16));
    o->l4_csum_ok = !(o->l4 == PMD_PKT_UDP && csum_field == 0) &&
                    pkt_fold(pkt_sum(l4, l4_total, pkt_pseudo_sum(ip, l4_total))) == 0xffff;
    if (memcmp(pl, MAGIC, 4) != 0)
        return 0;
    memcpy(&o->seq, pl + 4, 8);
    uint32_t payload_len = (uint32_t)pl[12] | (uint32_t)pl[13] << 8;
    if (payload_len != l4_total - l4_len)
        return 0;
    o->ours = 1;
    o->pattern_ok = 1;
    for (uint32_t i = PKT_NTPM_LEN; i < payload_len; i++)
        if (pl[i] != (uint8_t)(o->seq * 31 + i)) {
            o->pattern_ok = 0;
            break;
        }
    return 0;
}
