/* internal.h - what the C files share and cffi never sees. */
#ifndef NICTEST_PMD_INTERNAL_H
#define NICTEST_PMD_INTERNAL_H
#include <stdint.h>
#include <stddef.h>
#include "pmd.h"

#define PMD_DEFAULT_IOVA 0x10000000ull
#define PMD_HUGE ((uint64_t)PMD_HUGEPAGE_SIZE)

/* Record a sentence for pmd_last_error() and return -err (err > 0). */
int pmd_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmd_clear_error(void);

/* ---- hugepage DMA memory (memory.c) ---- */
struct pmd_dma {
    uint8_t *virt;           /* MAP_HUGETLB, locked */
    uint64_t size;           /* multiple of 2 MiB */
    uint64_t used;           /* bump allocator */
    uint64_t iova;           /* VFIO: where the whole area is mapped */
    uint64_t *phys;          /* UIO: physical address of each hugepage */
    int vfio_mapped;
};
int pmd_dma_create(struct pmd_dma *dma, uint64_t size);
void pmd_dma_destroy(struct pmd_dma *dma);
/* Allocate from the area: aligned, never crossing a hugepage boundary. */
int pmd_dma_take(struct pmd_dma *dma, uint64_t size, uint64_t align, void **virt, uint64_t *offset);
uint64_t pmd_dma_bus(const struct pmd_dma *dma, const void *virt);
int pmd_dma_resolve_phys(struct pmd_dma *dma); /* UIO: fill dma->phys via pagemap */

/* ---- ping-pong statistics (loops.c, kernel_pingpong.c) ---- */
/* Count one answered round trip of `rtt` ns (and keep it in rtt_ns[] when given). */
static inline void pmd_rtt_add(struct pmd_pingpong_result *r, uint64_t rtt, uint64_t *rtt_ns, int bad)
{
    if (rtt_ns)
        rtt_ns[r->answered] = rtt;
    r->answered++;
    r->bad += (uint64_t)bad;
    r->total_ns += rtt;
    if (rtt < r->min_ns)
        r->min_ns = rtt;
    if (rtt > r->max_ns)
        r->max_ns = rtt;
}

/* ---- the kernel path (afpacket.c) ---- */
/* AF_PACKET socket bound to ifname for our ethertype; *fd and the netdev's MAC. */
int pmd_afpacket_open(const char *ifname, int *fd, uint8_t mac[6]);

/* ---- port and backends ---- */
struct pmd_driver_ops;

/* An extra VFIO mapping made by pmd_dma_map (so close unmaps it). */
struct pmd_extra_map { uint64_t iova, size; };
#define PMD_MAX_EXTRA_MAPS 32

struct pmd_ring_state {
    void *desc;              /* descriptor ring (hugepage memory) */
    uint64_t desc_bus;
    uint32_t size;           /* entries, power of two */
    uint32_t next;           /* RX: next to check; TX: next free */
    uint32_t clean;          /* TX: oldest not yet completed */
    uint8_t **buf;           /* per-slot buffer virt */
    uint64_t *buf_bus;       /* per-slot buffer bus */
};

struct pmd_port {
    int backend;
    char address[16];
    /* VFIO */
    int container_fd, group_fd, device_fd;
    int group;
    int api_version;
    uint64_t config_offset;  /* config region offset in device_fd */
    /* UIO */
    int config_fd;           /* sysfs config (UIO) */
    /* common */
    volatile uint8_t *bar0;
    uint64_t bar0_size;
    uint32_t num_regions, num_irqs;
    struct pmd_region_info regions[PMD_MAX_REGIONS];
    struct pmd_irq_info irqs[PMD_MAX_IRQS];
    uint16_t vendor, device, pci_command;
    uint8_t mac[6];
    struct pmd_dma dma;
    struct pmd_extra_map extra[PMD_MAX_EXTRA_MAPS];
    const struct pmd_driver_ops *ops;
    struct pmd_ring_state rx, tx;
    struct pmd_stats stats;  /* accumulated clear-on-read counters */
    int started;
};

/* Backends: open/close the device, map BAR0, bus mastering, DMA mapping. */
int pmd_vfio_open(struct pmd_port *port);
int pmd_vfio_map(struct pmd_port *port, uint64_t iova, void *virt, uint64_t size);
int pmd_vfio_unmap(struct pmd_port *port, uint64_t iova, uint64_t size);
int pmd_vfio_reset(struct pmd_port *port);
void pmd_vfio_close(struct pmd_port *port);
int pmd_uio_open(struct pmd_port *port);
void pmd_uio_close(struct pmd_port *port);
/* PCI config space through the backend (VFIO config region or sysfs config). */
int pmd_config_read(struct pmd_port *port, uint32_t off, void *buf, uint32_t len);
int pmd_config_write(struct pmd_port *port, uint32_t off, const void *buf, uint32_t len);
int pmd_enable_bus_master(struct pmd_port *port);

/* ---- device ops table: one file per NIC family (drivers/) ---- */
typedef uint32_t (*pmd_fill_fn)(void *ctx, uint8_t *buf, uint32_t capacity);
typedef void (*pmd_recv_fn)(void *ctx, const uint8_t *data, uint32_t len, uint8_t errors);

struct pmd_driver_ops {
    const char *name;
    /* 1 if this driver handles vendor:device */
    int (*match)(uint16_t vendor, uint16_t device);
    /* Put the device in a known state and bring the rings up (re-initialises
     * every register relied on: resets on the lab do not restore defaults). */
    int (*init)(struct pmd_port *port);
    /* Disable RX and TX and wait until the device stopped using the rings. */
    int (*stop)(struct pmd_port *port);
    int (*reset)(struct pmd_port *port); /* device-level reset, e.g. CTRL.RST */
    int (*read_mac)(struct pmd_port *port, uint8_t mac[6]);
    int (*link)(struct pmd_port *port, int *up, uint32_t *status);
    /* Reap completed TX descriptors, fill up to max free ones with fill(),
     * write the tail once. Returns frames queued (>= 0) or -errno. */
    int (*tx_burst)(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx);
    /* Reap completed TX descriptors only; returns how many are still in flight. */
    int (*tx_clean)(struct pmd_port *port);
    /* Hand up to max completed RX frames to recv(), re-arm, write the tail once. */
    int (*rx_burst)(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx);
    int (*read_stats)(struct pmd_port *port, struct pmd_stats *acc);
    int (*rx_point_next)(struct pmd_port *port, uint64_t bus);
    int (*tx_raw)(struct pmd_port *port, uint64_t bus, uint32_t len);
    const struct pmd_named_reg *dump_regs; /* name + offset, terminated by name "" */
};

extern const struct pmd_driver_ops pmd_e1000e_ops;

#endif
