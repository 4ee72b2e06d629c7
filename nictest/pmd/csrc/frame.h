/* frame.h - the test frame both paths (PMD and AF_PACKET) send and check.
 *   0  dst MAC | 6 src MAC | 12 ethertype 0x88B5 (big endian)
 *  14  magic "NTPM" | 18 sequence (u64 LE) | 26 length (u16 LE) | 28 kind (u16 LE)
 *  30  pattern: byte i = (uint8_t)(seq * 31 + i) */
#ifndef NICTEST_PMD_FRAME_H
#define NICTEST_PMD_FRAME_H
#include <stdint.h>
#include "pmd.h"

#define FRAME_HDR 30
enum frame_kind { FRAME_DATA = 0, FRAME_PING = 1, FRAME_PONG = 2 };
enum frame_verdict { FRAME_FOREIGN = 0, FRAME_BAD = 1, FRAME_GOOD = 2 };

struct frame_gen {
    uint8_t header[14];
    uint32_t size;
    uint16_t kind;
    uint64_t seq;
    uint8_t payload; /* 1: write the pattern (frame_gen_init's default); 0: rate mode, header only */
};

void frame_gen_init(struct frame_gen *g, const uint8_t *dst, const uint8_t *src, uint32_t size, uint64_t seq,
                    uint16_t kind);
/* Write the frame for g->seq into buf and advance g->seq; returns its length. */
uint32_t frame_write(struct frame_gen *g, uint8_t *buf);
/* Classify a received frame; *seq and *kind are set for ours (good or bad). */
int frame_check(const uint8_t *d, uint32_t len, uint64_t *seq, uint16_t *kind);
/* frame_check without the pattern (payload 0): magic, length and sequence only. */
int frame_check_as(const uint8_t *d, uint32_t len, uint64_t *seq, uint16_t *kind, int payload);

/* `left` frames of g, as a driver's tx_burst fill callback (pmd_fill_fn) takes them. */
struct frame_source {
    struct frame_gen gen;
    uint64_t left; /* frames still to queue */
};
uint32_t frame_source_fill(void *opaque, uint8_t *buf, uint32_t capacity);

/* Per-frame accounting shared by all receive loops. Frames carry no time of their own: a
 * loop stamps each burst that brought any (rx_acc_stamp), since a clock read per frame was
 * a third of the PMD's time on a lab guest whose clock source is the HPET (1.2 us a read). */
struct rx_acc {
    struct pmd_rx_result *r;
    uint64_t expect;
    uint64_t first_ns, last_ns; /* before the first burst with our frames, after the last */
    uint64_t stamped;           /* r->packets at the last stamp */
    uint8_t payload; /* 1: check the pattern (rx_acc_init's default); 0: rate mode */
};
void rx_acc_init(struct rx_acc *a, struct pmd_rx_result *r, uint64_t expect_seq);
void rx_acc_frame(struct rx_acc *a, const uint8_t *d, uint32_t len, uint8_t errors);
/* The frames counted since the last stamp arrived between before_ns and after_ns (the
 * clock read before the burst that handed them up, and after it). */
void rx_acc_stamp(struct rx_acc *a, uint64_t before_ns, uint64_t after_ns);
void rx_acc_finish(struct rx_acc *a, uint64_t start_ns);
int frame_size_ok(uint32_t size);
#endif
