/* frame.c - build and check nictest test frames (see frame.h). */
#include <errno.h>
#include <string.h>

#include "frame.h"
#include "internal.h"
#include "regs.h"

static const uint8_t MAGIC[4] = {'N', 'T', 'P', 'M'};

int frame_size_ok(uint32_t size)
{
    if (size < PMD_FRAME_MIN || size > PMD_FRAME_MAX)
        return pmd_fail(EINVAL, "frame size %u: must be %d..%d bytes (without FCS)", size, PMD_FRAME_MIN,
                        PMD_FRAME_MAX);
    return 0;
}

void frame_gen_init(struct frame_gen *g, const uint8_t *dst, const uint8_t *src, uint32_t size, uint64_t seq,
                    uint16_t kind)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memcpy(g->header, dst ? dst : bcast, 6);
    memcpy(g->header + 6, src, 6);
    g->header[12] = PMD_ETHERTYPE >> 8;
    g->header[13] = PMD_ETHERTYPE & 0xff;
    g->size = size;
    g->seq = seq;
    g->kind = kind;
    g->payload = 1;
}

/* ramp[k] = k mod 256: the payload of any frame is a slice of it, so writing and
 * checking it are one memcpy / memcmp instead of a byte loop (under TCG the byte
 * loop cost 8-9 us per 1514-byte frame, most of the PMD's time at that size). */
static uint8_t ramp[256 + PMD_FRAME_JUMBO_MAX];

__attribute__((constructor)) static void ramp_init(void)
{
    for (uint32_t k = 0; k < sizeof ramp; k++)
        ramp[k] = (uint8_t)k;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t frame_write(struct frame_gen *g, uint8_t *buf)
{
    uint64_t seq = g->seq++;
    memcpy(buf, g->header, 14);
    memcpy(buf + 14, MAGIC, 4);
    memcpy(buf + 18, &seq, 8); /* x86: little endian */
    put16(buf + 26, (uint16_t)g->size);
    put16(buf + 28, g->kind);
    /* byte i of the payload = (uint8_t)(seq * 31 + i - FRAME_HDR); rate mode leaves the
     * buffer's old bytes there (the receiver does not look) */
    if (g->payload)
        memcpy(buf + FRAME_HDR, ramp + (uint8_t)(seq * 31), g->size - FRAME_HDR);
    return g->size;
}

uint32_t frame_source_fill(void *opaque, uint8_t *buf, uint32_t capacity)
{
    struct frame_source *src = opaque;
    if (src->left == 0 || capacity < src->gen.size)
        return 0;
    src->left--;
    return frame_write(&src->gen, buf);
}

int frame_check(const uint8_t *d, uint32_t len, uint64_t *seq, uint16_t *kind)
{
    return frame_check_as(d, len, seq, kind, 1);
}

int frame_check_as(const uint8_t *d, uint32_t len, uint64_t *seq, uint16_t *kind, int payload)
{
    if (len < FRAME_HDR || d[12] != (PMD_ETHERTYPE >> 8) || d[13] != (PMD_ETHERTYPE & 0xff) ||
        memcmp(d + 14, MAGIC, 4) != 0)
        return FRAME_FOREIGN;
    memcpy(seq, d + 18, 8);
    *kind = get16(d + 28);
    if (get16(d + 26) != len)
        return FRAME_BAD;
    if (len > PMD_FRAME_JUMBO_MAX)
        return FRAME_BAD;
    if (payload && memcmp(d + FRAME_HDR, ramp + (uint8_t)(*seq * 31), len - FRAME_HDR) != 0)
        return FRAME_BAD;
    return FRAME_GOOD;
}

void rx_acc_init(struct rx_acc *a, struct pmd_rx_result *r, uint64_t expect_seq)
{
    memset(r, 0, sizeof *r);
    a->r = r;
    a->expect = expect_seq;
    a->first_ns = a->last_ns = 0;
    a->stamped = 0;
    a->payload = 1;
}

void rx_acc_stamp(struct rx_acc *a, uint64_t before_ns, uint64_t after_ns)
{
    if (a->r->packets == a->stamped)
        return;
    if (a->stamped == 0)
        a->first_ns = before_ns;
    a->last_ns = after_ns;
    a->stamped = a->r->packets;
}

void rx_acc_frame(struct rx_acc *a, const uint8_t *d, uint32_t len, uint8_t errors)
{
    struct pmd_rx_result *r = a->r;
    uint64_t seq;
    uint16_t kind;
    if (errors)
        r->desc_errors++;
    int v = frame_check_as(d, len, &seq, &kind, a->payload);
    if (v == FRAME_FOREIGN) {
        r->foreign++;
        return;
    }
    if (r->packets == 0)
        r->first_seq = seq;
    r->packets++;
    r->bytes += len;
    r->seq_sum += seq;
    r->seq_sqsum += seq * seq;
    if (v == FRAME_BAD || errors)
        r->bad++;
    if (seq == a->expect) {
        a->expect = seq + 1;
    } else if (seq > a->expect) {
        r->lost += seq - a->expect;
        a->expect = seq + 1;
    } else {
        r->out_of_order++;
    }
    r->last_seq = seq;
}

void rx_acc_finish(struct rx_acc *a, uint64_t start_ns)
{
    a->r->ns = pmd_now_ns() - start_ns;
    a->r->active_ns = a->last_ns - a->first_ns;
}
