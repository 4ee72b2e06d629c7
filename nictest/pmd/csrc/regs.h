/* regs.h - the only way C touches device registers: 32-bit volatile access
 * with a compiler/CPU barrier, and a bounded wait. */
#ifndef NICTEST_PMD_REGS_H
#define NICTEST_PMD_REGS_H
#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline void pmd_barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static inline uint32_t get_reg32(volatile uint8_t *bar, uint32_t reg)
{
    pmd_barrier();
    uint32_t v = *(volatile uint32_t *)(bar + reg);
    pmd_barrier();
    return v;
}

static inline void set_reg32(volatile uint8_t *bar, uint32_t reg, uint32_t value)
{
    pmd_barrier();
    *(volatile uint32_t *)(bar + reg) = value;
    pmd_barrier();
}

static inline uint64_t pmd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait until (reg & mask) == want, at most timeout_ms; 0 or -ETIMEDOUT. */
static inline int wait_reg32(volatile uint8_t *bar, uint32_t reg, uint32_t mask, uint32_t want,
                             uint32_t timeout_ms)
{
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct timespec pause = {0, 100000}; /* 100 us */
    for (;;) {
        if ((get_reg32(bar, reg) & mask) == want)
            return 0;
        if (pmd_now_ns() >= deadline)
            return -ETIMEDOUT;
        nanosleep(&pause, NULL);
    }
}
#endif
