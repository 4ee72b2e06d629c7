/* internal.h - what the C files share and cffi never sees. */
#ifndef NICTEST_PMD_INTERNAL_H
#define NICTEST_PMD_INTERNAL_H
#include <stdint.h>
#include <stddef.h>
#include "pmd.h"

#define PMD_DEFAULT_IOVA 0x10000000ull
#define PMD_HUGE ((uint64_t)PMD_HUGEPAGE_SIZE)
#define MS 1000000ull /* nanoseconds per millisecond */
/* A receive loop that stops "when the wire is quiet" stops after this long without a frame. */
#define DRAIN_QUIET_NS (50 * MS)

/* Record a sentence for pmd_last_error() and return -err (err > 0). */
int pmd_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pmd_clear_error(void);
/* Run undo(what) after a failed step, keep that step's sentence, return rc. */
int pmd_fail_undo(int rc, void (*undo)(void *), void *what);

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

/* ---- devices and backends (device.c, vfio.c, uio.c) ---- */
struct pmd_backend_ops;

/* A PCI function opened through a backend: config space, regions, IRQ info and
 * its register BAR mapped. No DMA memory, no rings: that is a port. */
struct pmd_device {
    const struct pmd_backend_ops *backend;
    char address[16];
    /* VFIO */
    int container_fd, group_fd, device_fd;
    int group;
    int api_version;
    uint32_t device_flags;   /* VFIO_DEVICE_FLAGS_* */
    char vf_token[40];       /* the VF token it was opened with ("": none; vf_token.c) */
    uint64_t config_offset;  /* config region offset in device_fd */
    /* UIO */
    int config_fd;           /* sysfs config */
    /* common */
    volatile uint8_t *bar;   /* the first memory BAR that can be mmap'ed */
    int bar_index;           /* -1: none */
    uint64_t bar_size;
    uint32_t num_regions, num_irqs;
    struct pmd_region_info regions[PMD_MAX_REGIONS];
    struct pmd_irq_info irqs[PMD_MAX_IRQS];
    uint16_t vendor, device, pci_command;
};

/* What differs between VFIO and UIO. Every function returns 0 or -errno. */
struct pmd_backend_ops {
    const char *name;
    int id;                  /* enum pmd_backend */
    int iommu;               /* 1: DMA must be mapped (map/unmap), 0: bus = physical */
    /* fds, region info, config access; sets api_version/group (-1 if none) */
    int (*open)(struct pmd_device *dev);
    void (*close)(struct pmd_device *dev);
    /* IRQ indexes: an index the device lacks is recorded (present 0, count 0) */
    int (*irq_info)(struct pmd_device *dev);
    int (*map_bar)(struct pmd_device *dev, uint32_t index, void **virt, uint64_t *size);
    void (*unmap_bar)(struct pmd_device *dev, void *virt, uint64_t size);
    int (*config_read)(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len);
    int (*config_write)(struct pmd_device *dev, uint32_t off, const void *buf, uint32_t len);
    /* Read a region through the fd (not the mapping); -ENOTSUP if the backend cannot */
    int (*region_read)(struct pmd_device *dev, uint32_t index, uint64_t off, void *buf, uint32_t len);
    int (*reset)(struct pmd_device *dev);    /* function reset; -ENOTSUP if none */
    /* IOMMU backends: map/unmap DMA memory. Others: resolve physical addresses. */
    int (*map)(struct pmd_device *dev, uint64_t iova, void *virt, uint64_t size);
    int (*unmap)(struct pmd_device *dev, uint64_t iova, uint64_t size);
};

extern const struct pmd_backend_ops pmd_vfio_backend;
extern const struct pmd_backend_ops pmd_uio_backend;

int pmd_device_config_read(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len);
int pmd_device_config_write(struct pmd_device *dev, uint32_t off, const void *buf, uint32_t len);
/* PCI command register: set (or clear) bus mastering, read back. */
int pmd_device_bus_master(struct pmd_device *dev, int on);
/* A VF token (a UUID as text) into its 16 bytes; -EINVAL naming the format (vf_token.c). */
int pmd_vf_token_parse(const char *text, uint8_t uuid[16]);

/* ---- ports (port.c) ---- */
typedef uint32_t (*pmd_fill_fn)(void *ctx, uint8_t *buf, uint32_t capacity);
typedef void (*pmd_recv_fn)(void *ctx, const uint8_t *data, uint32_t len, uint8_t errors);
struct pmd_driver_ops;
struct pmd_board;

/* An extra VFIO mapping made by pmd_dma_map (so close unmaps it). */
struct pmd_extra_map { uint64_t iova, size; };
#define PMD_MAX_EXTRA_MAPS 32

/* One descriptor ring; the descriptor layout is the driver's business. */
struct pmd_ring_state {
    void *desc;              /* descriptor ring (hugepage memory) */
    uint64_t desc_bus;
    uint32_t size;           /* entries, power of two */
    uint32_t next;           /* RX: next to check; TX: next free */
    uint32_t clean;          /* TX: oldest not yet completed */
    uint8_t **buf;           /* per-slot buffer virt */
    uint64_t *buf_bus;       /* per-slot buffer bus */
};

/* A frame spanning RX descriptors, gathered until its EOP descriptor (port.c). */
#define PMD_CHAIN_MAX (PMD_FRAME_JUMBO_MAX + PMD_BUF_SIZE)
struct pmd_rx_chain {
    uint8_t *buf;            /* PMD_CHAIN_MAX bytes */
    uint32_t len;
    uint8_t errors;
    int overflow;
};

struct pmd_port {
    struct pmd_device *dev;
    volatile uint8_t *regs;  /* the driver's register BAR (dev->bar) */
    const struct pmd_board *board;
    const struct pmd_driver_ops *ops;
    uint8_t mac[6];
    struct pmd_dma dma;
    struct pmd_extra_map extra[PMD_MAX_EXTRA_MAPS];
    struct pmd_ring_state rx, tx;
    struct pmd_stats stats;  /* accumulated clear-on-read counters */
    struct pmd_rx_chain chain;
    int started;
    volatile int interrupted; /* set from another thread (request.c): the loops return -ECANCELED */
    uint64_t driver_state[8]; /* the driver's own words (igbvf: its mailbox state, last counter values) */
    struct pmd_queues *queues; /* queues.c: NULL while the port has one RX and one TX queue */
};

/* request.c: -ECANCELED once pmd_port_interrupt was called (checked by every loop) */
int pmd_port_check_interrupt(struct pmd_port *port);

/* For a driver's rx_burst: hand one descriptor's bytes up through recv; a frame
 * spanning descriptors (eop 0 on all but its last) is handed up whole at its EOP
 * descriptor (one longer than PMD_CHAIN_MAX: with errors 0x80 and length 0). */
void pmd_rx_deliver(struct pmd_port *port, const uint8_t *data, uint32_t len, int eop, uint8_t errors,
                    pmd_recv_fn recv, void *ctx);

/* ---- drivers: one file per NIC family under drivers/, found by drivers/registry.c ---- */

struct pmd_driver_ops {
    const char *name;
    uint32_t rx_desc_size;   /* bytes per descriptor of the format the driver uses */
    uint32_t tx_desc_size;
    uint32_t ring_align;     /* descriptor ring base/length alignment in bytes */
    uint32_t ring_max;       /* most descriptors per ring */
    /* Put the device in a known state and bring the rings up (re-initialises
     * every register relied on: resets on the lab do not restore defaults). */
    int (*init)(struct pmd_port *port);
    /* Disable RX and TX and wait until the device stopped using the rings. */
    int (*stop)(struct pmd_port *port);
    int (*reset)(struct pmd_port *port); /* the MAC's software reset (PMD_RESET_DEVICE) */
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
    /* Registers by the generic names of pmd.h (no clear-on-read ones); count or -errno. */
    int (*dump)(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max);
    /* Queue one frame of len bytes (any length up to PMD_FRAME_JUMBO_MAX) in as many
     * descriptors as it needs, FCS added; 1 queued, 0 no room (reap and retry), -errno. */
    int (*tx_chain)(struct pmd_port *port, const uint8_t *frame, uint32_t len);
    /* MAC configuration (pmd.h's pmd_port_set_*; arguments already checked). */
    int (*set_max_frame)(struct pmd_port *port, uint32_t max_frame, uint32_t *limit);
    int (*set_rx_mode)(struct pmd_port *port, uint32_t mode);
    int (*set_mac_filter)(struct pmd_port *port, uint32_t index, const uint8_t *mac);
    int (*set_mc_table)(struct pmd_port *port, const uint8_t *macs, uint32_t count);
    /* Several queues and RSS (queues.c; NULL where the driver has one queue pair). The rings of
     * port->queues exist; bring up queues 1.. and apply its RSS settings / stop or restart RX
     * queue q / hand up to max completed frames of RX queue q with their descriptor's facts /
     * queue one frame (<= PMD_BUF_SIZE) on TX queue q (1 queued, 0 no room) / start after stop,
     * everything as configured before. */
    int (*queues_apply)(struct pmd_port *port);
    int (*rx_queue_enable)(struct pmd_port *port, uint32_t q, int on);
    int (*rx_queue_burst)(struct pmd_port *port, uint32_t q, uint32_t max, struct pmd_rx_frame *out);
    int (*tx_queue_frame)(struct pmd_port *port, uint32_t q, const uint8_t *frame, uint32_t len);
    int (*start)(struct pmd_port *port);
    /* Offloads (packet_port.c; NULL: the driver has none). tx_offload: queue one frame
     * (one descriptor, len <= PMD_BUF_SIZE) with the offloads off asks for: 1 queued,
     * 0 no room, -errno. rx_meta: take the next completed frame (one descriptor) into
     * buf with its descriptor metadata (m->pkt left alone): 1, 0 none yet, -errno. */
    int (*tx_offload)(struct pmd_port *port, const uint8_t *frame, uint32_t len, const struct pmd_tx_offload *off);
    int (*rx_meta)(struct pmd_port *port, struct pmd_rx_meta *m, uint8_t *buf, uint32_t cap);
    int (*set_vlan)(struct pmd_port *port, const struct pmd_vlan_config *cfg);
    int (*set_rx_csum)(struct pmd_port *port, uint32_t ip, uint32_t l4);
    /* Interrupts (irq.c; NULL: the driver only polls). */
    int (*irq_enable)(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector);
    int (*irq_mask)(struct pmd_port *port, int masked);
    int (*irq_ack)(struct pmd_port *port, uint32_t *causes);
    void (*irq_disable)(struct pmd_port *port);
};

/* Per-model facts (Linux: struct e1000_info behind pci_device_id.driver_data). */
enum pmd_board_flags {
    PMD_BOARD_HAS_MSI = 1u << 0,
    PMD_BOARD_HAS_MSIX = 1u << 1,
    PMD_BOARD_PCIE = 1u << 2,             /* PCIe: VFIO also offers ERR/REQ IRQ indexes */
    PMD_BOARD_HAS_JUMBO = 1u << 3,
};

struct pmd_board {
    const struct pmd_driver_ops *ops;
    int desc_format;         /* enum pmd_desc_format */
    uint32_t reg_bar;        /* BAR holding the registers */
    uint32_t max_frame;      /* largest frame the MAC takes, with FCS (Linux's max_hw_frame_size) */
    uint32_t rx_queues, tx_queues;
    uint32_t msix_vectors;   /* 0: no MSI-X */
    uint32_t resets;         /* bits (1 << enum pmd_reset_kind) the driver can do itself */
    uint32_t flags;          /* enum pmd_board_flags */
    uint32_t mac_filters;    /* unicast address filter entries (RAL/RAH), the primary included */
    /* The profile features (nictest/models/schema.py FEATURES) this driver implements, space-separated:
     * a feature suite that needs the PMD runs only where its name is here (else "not testable"). */
    const char *features;
};

/* The ID table (drivers/registry.c, one line per model in drivers/models.h). */
struct pmd_model {
    uint16_t vendor, device;
    const char *name;        /* e.g. "82540EM" */
    const struct pmd_board *board;
};
extern const struct pmd_model pmd_models[];
const struct pmd_model *pmd_model_find(uint16_t vendor, uint16_t device);
/* "e1000 (8086:100e 82540EM, ...), e1000e (...)" for error messages. */
void pmd_models_describe(char *out, size_t size);

/* Dump helper for drivers: a table of {generic name, hw name, low, high} registers. */
struct pmd_reg_map {
    const char *name;        /* generic name, pmd.h */
    const char *hw;          /* the datasheet's name, e.g. "RDBAL/RDBAH" */
    uint32_t lo;
    int32_t hi;              /* -1: a 32-bit register */
};
int pmd_dump_map(struct pmd_port *port, const struct pmd_reg_map *map, struct pmd_named_reg *out, uint32_t max);
int pmd_dump_put(struct pmd_named_reg *out, uint32_t max, uint32_t n, const char *name, const char *hw,
                 uint32_t offset, uint64_t value);

/* ---- several queues per port, RSS (queues.c) ---- */
#define PMD_RSS_KEY_BYTES 40
#define PMD_RETA_ENTRIES 128
struct pmd_queues {
    uint32_t rx_count, tx_count;     /* queues in use, queue 0 (port->rx / port->tx) included */
    struct pmd_ring_state rx[PMD_QUEUES_MAX], tx[PMD_QUEUES_MAX]; /* [0] unused: port->rx / port->tx */
    struct pmd_dma dma;              /* the rings of queues 1.. */
    uint32_t rx_stopped;             /* bit q: RX queue q stopped by pmd_port_rx_queue_enable */
    uint32_t rss_fields;             /* enum pmd_rss_fields; 0: RSS off */
    uint8_t key[PMD_RSS_KEY_BYTES];
    uint8_t reta[PMD_RETA_ENTRIES];  /* queue of each redirection table entry */
};
static inline struct pmd_ring_state *pmd_rx_ring(struct pmd_port *port, uint32_t q)
{
    return q ? &port->queues->rx[q] : &port->rx;
}
static inline struct pmd_ring_state *pmd_tx_ring(struct pmd_port *port, uint32_t q)
{
    return q ? &port->queues->tx[q] : &port->tx;
}
void pmd_queues_free(struct pmd_port *port); /* pmd_port_close, after the device stopped */

#endif
