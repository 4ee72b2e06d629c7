/* packet_port.c - IPv4 UDP/TCP test frames through a port, with the NIC's offloads:
 * TX with tag / checksum insertion, RX with each frame's descriptor metadata, and the
 * RX VLAN / checksum configuration (pmd.h). Few frames per call: the feature suites. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "packet.h"
#include "regs.h"


static int need_op(struct pmd_port *port, const void *fn, const char *what)
{
    if (!fn)
        return pmd_fail(ENOTSUP, "the %s driver cannot %s", port->ops->name, what);
    return 0;
}

static int offload_wanted(const struct pmd_tx_offload *off)
{
    return off && (off->vlan_insert || off->ip_csum || off->l4_csum);
}

int pmd_port_tx_packets(struct pmd_port *port, const struct pmd_pkt_spec *specs, uint32_t count,
                        const struct pmd_tx_offload *off, uint32_t timeout_ms)
{
    static const uint8_t zero[6];
    uint8_t frame[PMD_FRAME_MAX + PKT_VLAN_LEN];
    int rc;
    pmd_clear_error();
    if (offload_wanted(off) && (rc = need_op(port, (const void *)port->ops->tx_offload, "insert VLAN tags or "
                                                                                        "checksums on TX")) < 0)
        return rc;
    if (!port->ops->tx_offload && (rc = need_op(port, (const void *)port->ops->tx_chain, "queue single frames")) < 0)
        return rc;
    struct pmd_tx_offload none = {0};
    uint64_t limit = (uint64_t)timeout_ms * MS, progress = pmd_now_ns();
    uint32_t queued = 0;
    int in_flight = 0;
    while (queued < count || in_flight > 0) {
        if ((rc = pmd_port_check_interrupt(port)) < 0)
            return rc;
        if (queued < count) {
            struct pmd_pkt_spec s = specs[queued];
            if (memcmp(s.src, zero, 6) == 0)
                memcpy(s.src, port->mac, 6);
            int len = pmd_packet_build(&s, frame, sizeof frame);
            if (len < 0)
                return pmd_fail(-len, "frame %u: %s", queued, pmd_last_error());
            int n = port->ops->tx_offload ? port->ops->tx_offload(port, frame, (uint32_t)len, off ? off : &none)
                                          : port->ops->tx_chain(port, frame, (uint32_t)len);
            if (n < 0)
                return n;
            if (n > 0) {
                queued++;
                progress = pmd_now_ns();
            }
        }
        int before = in_flight;
        in_flight = port->ops->tx_clean(port);
        if (in_flight < before)
            progress = pmd_now_ns();
        if (pmd_now_ns() - progress > limit)
            return pmd_fail(ETIMEDOUT, "TX stalled for %u ms: %u of %u frames queued, %d descriptors not completed",
                            timeout_ms, queued, count, in_flight);
    }
    return (int)count;
}

int pmd_port_rx_packets(struct pmd_port *port, struct pmd_rx_meta *out, uint32_t max, uint64_t stop_seq,
                        uint32_t timeout_ms)
{
    static uint8_t buf[PMD_BUF_SIZE];
    struct timespec pause = {0, 20000};
    int rc;
    pmd_clear_error();
    if ((rc = need_op(port, (const void *)port->ops->rx_meta, "report RX descriptor metadata")) < 0)
        return rc;
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * MS;
    uint32_t got = 0;
    while (got < max) {
        if ((rc = pmd_port_check_interrupt(port)) < 0)
            return rc;
        struct pmd_rx_meta *m = &out[got];
        memset(m, 0, sizeof *m);
        int n = port->ops->rx_meta(port, m, buf, sizeof buf);
        if (n < 0)
            return n;
        if (n == 0) {
            if (pmd_now_ns() >= deadline)
                break;
            nanosleep(&pause, NULL);
            continue;
        }
        pmd_packet_parse(buf, m->length, &m->pkt);
        if (!m->pkt.ours)
            continue;
        got++;
        if (m->pkt.seq == stop_seq)
            break;
    }
    return (int)got;
}

int pmd_port_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg)
{
    int rc;
    pmd_clear_error();
    if ((rc = need_op(port, (const void *)port->ops->set_vlan, "configure VLAN stripping and filtering")) < 0)
        return rc;
    if (cfg->count > sizeof cfg->vids / sizeof cfg->vids[0])
        return pmd_fail(EINVAL, "%u VLAN IDs: at most %zu", cfg->count, sizeof cfg->vids / sizeof cfg->vids[0]);
    for (uint32_t i = 0; i < cfg->count; i++)
        if (cfg->vids[i] > 4095)
            return pmd_fail(EINVAL, "VLAN ID %u: 0..4095", cfg->vids[i]);
    return port->ops->set_vlan(port, cfg);
}

int pmd_port_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4)
{
    int rc;
    pmd_clear_error();
    if ((rc = need_op(port, (const void *)port->ops->set_rx_csum, "check checksums on RX")) < 0)
        return rc;
    return port->ops->set_rx_csum(port, !!ip, !!l4);
}
