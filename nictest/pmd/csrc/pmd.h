/*
 * pmd.h - the one header cffi's cdef sees (nictest.pmd._build strips the
 * preprocessor lines below and hands the rest to ffibuilder.cdef).
 *
 * Rules for everything declared here:
 *   - plain C only: opaque handles, plain structs, enums; no macros;
 *   - every function returns 0 (or a count >= 0) on success and -errno on
 *     failure; nothing calls exit() or abort(); every wait on the device is
 *     bounded by a timeout;
 *   - pmd_last_error() gives a human sentence about the last failure in this
 *     thread (which file, which ioctl, what to check).
 */
#ifndef NICTEST_PMD_H
#define NICTEST_PMD_H
#include <stdint.h>
#include <stddef.h>

/* ---- opaque handles ---------------------------------------------------- */
struct pmd_device;           /* a PCI function opened through VFIO or UIO: no driver */
struct pmd_port;             /* a device driven by a nictest driver: DMA memory, rings */

/* ---- constants --------------------------------------------------------- */
enum pmd_backend {
    PMD_BACKEND_VFIO = 1,
    PMD_BACKEND_UIO = 2
};

enum pmd_limits {
    PMD_MAX_REGIONS = 16,
    PMD_MAX_IRQS = 8,
    PMD_MAX_NAMED_REGS = 48,
    PMD_FRAME_MIN = 60,      /* frame length without FCS */
    PMD_FRAME_MAX = 1514,
    PMD_FRAME_JUMBO_MAX = 16380, /* pmd_tx_loop/pmd_rx_loop: frames over PMD_BUF_SIZE span descriptors */
    PMD_BUF_SIZE = 2048,     /* one RX/TX buffer: every driver programs this size */
    PMD_HUGEPAGE_SIZE = 2097152,
    PMD_ETHERTYPE = 0x88B5   /* IEEE local experimental */
};

/* What a stream loop writes and checks per frame. PAYLOAD: every payload byte of the
 * pattern, on both ends. SEQUENCE (rate mode, as a traffic generator's): header, length
 * and sequence number only; loss and order are accounted the same way. */
enum pmd_check {
    PMD_CHECK_PAYLOAD = 0,
    PMD_CHECK_SEQUENCE = 1
};

enum pmd_reset_kind {
    PMD_RESET_NONE = 0,      /* only re-initialise the registers */
    PMD_RESET_VFIO = 1,      /* VFIO_DEVICE_RESET (function-level, when VFIO offers it) */
    PMD_RESET_DEVICE = 2     /* the driver's software reset of the MAC (e1000: CTRL.RST) */
};

enum pmd_desc_format {
    PMD_DESC_LEGACY = 1,     /* Intel legacy RX/TX descriptors (8254x, 82574L) */
    PMD_DESC_ADVANCED = 2    /* Intel advanced descriptors (82575 and later) */
};

/* pmd_port_set_rx_mode: which frames pass the MAC's address filter beyond the
 * unicast filter entries and the multicast table. */
enum pmd_rx_mode {
    PMD_RX_UNICAST_PROMISC = 1,   /* every unicast destination */
    PMD_RX_MULTICAST_PROMISC = 2, /* every multicast destination */
    PMD_RX_BROADCAST = 4          /* ff:ff:ff:ff:ff:ff */
};

/* ---- plain result structs ---------------------------------------------- */
struct pmd_region_info {
    uint32_t index;
    uint32_t flags;          /* VFIO_REGION_INFO_FLAG_* (READ 1, WRITE 2, MMAP 4) */
    uint64_t size;
    uint64_t offset;         /* offset of the region in the device fd */
};

/* present 0: the device has no such index (e.g. ERR/REQ on conventional PCI). */
struct pmd_irq_info {
    uint32_t index;
    uint32_t flags;                      /* MSI 1, MSI-X 2, PCIe 4, jumbo 8 */
    uint32_t count;
    uint32_t present;
};

struct pmd_device_info {
    int backend;                         /* enum pmd_backend */
    char address[16];                    /* 0000:00:03.0 */
    uint16_t vendor;
    uint16_t device;
    uint16_t pci_command;                /* as it reads now */
    int vfio_api_version;                /* -1 for UIO */
    int iommu_group;                     /* -1 for UIO */
    uint32_t device_flags;               /* VFIO_DEVICE_FLAGS_* (RESET 1, PCI 2); 0 for UIO */
    uint32_t num_regions;
    uint32_t num_irqs;
    struct pmd_region_info regions[16];
    struct pmd_irq_info irqs[8];
    int bar_index;                       /* the mapped memory BAR, -1: none */
    uint64_t bar_size;
};

/* What the ID table says about a model (drivers/registry.c). */
struct pmd_model_info {
    uint16_t vendor;
    uint16_t device;
    char name[24];                       /* model, e.g. "82540EM" */
    char driver[16];                     /* driver, e.g. "e1000" */
    int desc_format;                     /* enum pmd_desc_format */
    uint32_t rx_desc_size;
    uint32_t tx_desc_size;
    uint32_t reg_bar;
    uint32_t max_frame;                  /* with FCS (Linux max_hw_frame_size) */
    uint32_t rx_queues;
    uint32_t tx_queues;
    uint32_t msix_vectors;
    uint32_t resets;                     /* bits 1 << enum pmd_reset_kind the driver does */
    uint32_t flags;                      /* MSI 1, MSI-X 2, PCIe 4, jumbo 8 */
    uint32_t mac_filters;                /* unicast address filter entries, the primary included */
    char features[160];                  /* profile features the driver implements, space-separated */
};

struct pmd_port_info {
    struct pmd_device_info dev;
    struct pmd_model_info model;
    uint8_t mac[6];
    uint32_t status;                     /* the "status" register (link state) */
    int link_up;
    uint32_t rx_ring_size;
    uint32_t tx_ring_size;
    uint64_t dma_size;                   /* bytes of hugepage memory */
    uint64_t dma_bus_base;               /* IOVA (VFIO) or physical (UIO) */
    uint64_t rx_ring_bus;
    uint64_t tx_ring_bus;
};

/* A register by its generic name. Every driver exports at least:
 *   "control", "status", "interrupt mask", "rx control", "tx control",
 *   "rx ring base", "rx ring length" (bytes), "rx head", "rx tail",
 *   "tx ring base", "tx ring length", "tx head", "tx tail",
 *   "mac address" (the 6 bytes as a big-endian number), "mac address valid" (0/1);
 * hw is the datasheet's name ("RDBAL/RDBAH"), offset the (low) register. */
struct pmd_named_reg {
    char name[24];
    char hw[24];
    uint32_t offset;
    uint64_t value;
};

/* Hardware counters; the device clears them on read, the port accumulates. */
struct pmd_stats {
    uint64_t rx_packets;     /* GPRC */
    uint64_t tx_packets;     /* GPTC */
    uint64_t rx_missed;      /* MPC */
    uint64_t rx_bytes;       /* GORC */
    uint64_t tx_bytes;       /* GOTC */
    uint64_t rx_no_buffer;   /* RNBC */
    uint64_t crc_errors;     /* CRCERRS */
    uint64_t rx_oversize;    /* ROC: longer than the MAC takes, dropped */
    uint64_t rx_undersize;   /* RUC */
    uint64_t rx_length_errors; /* RLEC */
    uint64_t rx_broadcast;   /* BPRC */
    uint64_t rx_multicast;   /* MPRC */
    uint64_t rx_total_packets; /* TPR: good and bad */
    uint64_t rx_total_bytes; /* TORL/TORH */
    uint64_t tx_total_packets; /* TPT */
    uint64_t tx_total_bytes; /* TOTL/TOTH */
    uint64_t tx_broadcast;   /* BPTC */
    uint64_t tx_multicast;   /* MPTC */
};

struct pmd_tx_result {
    uint64_t packets;        /* completed by the device (DD) */
    uint64_t bytes;          /* frame bytes without FCS */
    uint64_t ns;             /* first enqueue to last completion */
    uint64_t ring_full;      /* bursts that found no free descriptor */
    uint64_t next_seq;       /* sequence number to continue with */
};

struct pmd_rx_result {
    uint64_t packets;        /* our frames (ethertype + magic), good or bad */
    uint64_t bytes;
    uint64_t bad;            /* wrong length or pattern */
    uint64_t out_of_order;   /* sequence lower than expected (reorder, duplicate) */
    uint64_t lost;           /* sum of forward gaps in the sequence */
    uint64_t foreign;        /* frames that are not ours (other ethertype...) */
    uint64_t desc_errors;    /* descriptors with a non-zero errors byte */
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t ns;             /* whole call */
    uint64_t active_ns;      /* before the burst with our first frame to after the one with the last */
    uint64_t seq_sum;        /* sum of the sequence numbers received (mod 2^64) */
    uint64_t seq_sqsum;      /* sum of their squares (mod 2^64): with packets ==
                                count these two show every number arrived once,
                                whatever the order */
    int timed_out;
};

struct pmd_pingpong_result {
    uint64_t sent;
    uint64_t answered;
    uint64_t bad;
    uint64_t min_ns;
    uint64_t max_ns;
    uint64_t total_ns;       /* sum of round trips */
};

struct pmd_forward_result {
    uint64_t forwarded;      /* frames received on one port and sent out of the other, in the window */
    uint64_t ns;             /* the measured window */
    uint64_t primed;         /* frames queued on the two ports before forwarding began */
    uint64_t dropped;        /* received, but no TX descriptor was free: not sent on */
    uint64_t drained;        /* our frames received after forwarding stopped (still circulating) */
    uint64_t foreign;        /* frames that are not ours: not sent on */
    uint64_t desc_errors;    /* descriptors with a non-zero errors byte: not sent on */
};

/* A piece of the port's DMA memory, e.g. a canary for isolation tests. */
struct pmd_buffer {
    void *virt;
    uint64_t bus;            /* IOVA (VFIO) or physical address (UIO) */
    uint64_t offset;         /* offset in the port's DMA memory */
    uint64_t size;
};

/* ---- device removal (request.c) ------------------------------------------- */
/* Register `eventfd` as the VFIO device request trigger (the kernel signals it
 * when it wants the device back); VFIO only. */
int pmd_port_request_eventfd(struct pmd_port *port, int eventfd);
int pmd_device_request_eventfd(struct pmd_device *dev, int eventfd);
/* From any thread: the loop running on the port (and every later one) returns -ECANCELED. */
void pmd_port_interrupt(struct pmd_port *port);

/* ---- interrupts through VFIO (irq.c) ---------------------------------------- */
/* VFIO only. Eventfd i is signalled when vector i of IRQ index `index` (VFIO_PCI_*_IRQ_INDEX:
 * INTx 0, MSI 1, MSI-X 2) fires; count <= the index's count. Enables that interrupt mode. */
int pmd_port_irq_eventfds(struct pmd_port *port, uint32_t index, const int32_t *fds, uint32_t count);
/* The device raises nothing any more (the driver's masks) and the index is torn down. */
int pmd_port_irq_disable(struct pmd_port *port, uint32_t index);
/* Software trigger of one vector (VFIO_IRQ_SET_DATA_NONE | ACTION_TRIGGER). */
int pmd_port_irq_trigger(struct pmd_port *port, uint32_t index, uint32_t vector);
/* Unmask one vector at VFIO (VFIO_IRQ_SET_DATA_NONE | ACTION_UNMASK): an automasked
 * (level-triggered, INTx) line VFIO masked when it signalled the eventfd. */
int pmd_port_irq_unmask(struct pmd_port *port, uint32_t index, uint32_t vector);
/* The driver routes RX queue 0 completions to rx_vector and the other causes (link status
 * change) to other_vector, no throttling, and unmasks them; -EOPNOTSUPP if it cannot. */
int pmd_port_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector);
/* Device-side mask (1) / unmask (0) of the enabled vectors; causes stay pending while masked. */
int pmd_port_irq_mask(struct pmd_port *port, int masked);
/* Read (and clear) the interrupt causes register; *causes its value. */
int pmd_port_irq_ack(struct pmd_port *port, uint32_t *causes);

/* ---- errors -------------------------------------------------------------- */
const char *pmd_last_error(void);

/* ---- hugepages ----------------------------------------------------------- */
/* Free and total 2 MiB hugepages from sysfs. */
int pmd_hugepages(long *free_pages, long *total_pages);

/* ---- the driver registry ------------------------------------------------- */
/* Model i of the ID table (0 .. count-1); -ENOENT past the end. */
int pmd_model_at(uint32_t i, struct pmd_model_info *out);
/* The model for vendor:device; -ENOENT (and a sentence naming the drivers) if none. */
int pmd_model_lookup(uint16_t vendor, uint16_t device, struct pmd_model_info *out);

/* ---- raw devices (no driver: VFIO/UIO API only) ----------------------------- */
/* Open a function bound to vfio-pci (VFIO) or uio_pci_generic (UIO): container,
 * group, device fd (VFIO) or sysfs files (UIO); region and IRQ info; memory
 * decoding on; the first memory BAR that can be mmap'ed is mapped. Bus
 * mastering stays as it is: no DMA memory exists. vf_token (VFIO, NULL or "":
 * none): the UUID a VF of a PF on vfio-pci must be opened with; -EACCES if it is
 * missing or not the PF's. */
int pmd_device_open(const char *address, int backend, const char *vf_token, struct pmd_device **out);
void pmd_device_close(struct pmd_device *dev);
int pmd_device_info(struct pmd_device *dev, struct pmd_device_info *info);
int pmd_device_config(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len);
/* 32-bit read of the mapped BAR through the mapping / through the backend's fd. */
int pmd_device_bar_read(struct pmd_device *dev, uint32_t off, uint32_t *value);
int pmd_device_region_read(struct pmd_device *dev, uint32_t index, uint64_t off, uint32_t *value);
/* Set the VF token (a UUID as text) of a PF opened through VFIO: its VFs then
 * open only with it (VFIO_DEVICE_FEATURE SET | PCI_VF_TOKEN; vf_token.c). */
int pmd_device_set_vf_token(struct pmd_device *dev, const char *token);

/* ---- ports ----------------------------------------------------------------- */
/* Open a NIC already bound to vfio-pci (backend VFIO) or uio_pci_generic (UIO):
 * open it as a device, find its driver in the ID table (-ENOTSUP naming the
 * drivers if none), enable bus mastering, allocate hugepage DMA memory, map it
 * for the device (VFIO: at iova_base; 0 means the default 0x10000000), bring
 * up the rings. Ring sizes: powers of two from 8 to the driver's maximum. */
int pmd_port_open(const char *address, int backend, uint32_t rx_ring, uint32_t tx_ring,
                  uint64_t iova_base, struct pmd_port **out);
/* Disable RX/TX, then unmap DMA memory, unmap BAR0, close fds. NULL is a no-op. */
void pmd_port_close(struct pmd_port *port);
int pmd_port_info(struct pmd_port *port, struct pmd_port_info *info);
int pmd_port_regs(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max, uint32_t *count);
/* Write the register a generic name stands for (its low 32 bits for a pair). */
int pmd_port_reg_write(struct pmd_port *port, const char *name, uint32_t value);
int pmd_port_stats(struct pmd_port *port, struct pmd_stats *stats);
/* Read the counters once: what they counted since the last read (the device
 * clears them on read; the port still accumulates them for pmd_port_stats). */
int pmd_port_stats_read(struct pmd_port *port, struct pmd_stats *delta);
/* Link state; waits up to timeout_ms for link up (0: just read). */
int pmd_port_link(struct pmd_port *port, uint32_t timeout_ms, int *up, uint32_t *status);
/* Reset (enum pmd_reset_kind), then re-initialise every register the driver uses. */
int pmd_port_reset(struct pmd_port *port, int kind);

/* ---- MAC configuration (the feature suites) ---------------------------- */
/* Take frames up to max_frame bytes with FCS (1518: standard, no long packets);
 * *limit: the largest frame with FCS the MAC now receives; equal to max_frame
 * where the limit is programmable, else the fixed size the driver promises
 * (1522 without long packets, the model's max_frame with them). Longer ones are
 * dropped and counted in rx_oversize. -EINVAL above the model's max_frame. */
int pmd_port_set_max_frame(struct pmd_port *port, uint32_t max_frame, uint32_t *limit);
/* enum pmd_rx_mode bits; 0: only the filter entries and the multicast table pass. */
int pmd_port_set_rx_mode(struct pmd_port *port, uint32_t mode);
/* Unicast filter entry `index` (1 .. mac_filters-1; 0 is the port's own MAC):
 * accept frames for mac (6 bytes), or clear the entry (mac NULL). */
int pmd_port_set_mac_filter(struct pmd_port *port, uint32_t index, const uint8_t *mac);
/* The multicast table holds exactly these count addresses' hash bits (6 bytes each). */
int pmd_port_set_mc_table(struct pmd_port *port, const uint8_t *macs, uint32_t count);

/* Raw register BAR access: offset 4-aligned and inside the BAR, else -EINVAL. */
int pmd_reg_read(struct pmd_port *port, uint32_t offset, uint32_t *value);
int pmd_reg_write(struct pmd_port *port, uint32_t offset, uint32_t value);

/* ---- DMA control (for IOMMU isolation checks) ---------------------------- */
/* Carve size bytes (2 KiB aligned, never across a hugepage) from the port's
 * spare DMA memory; it is mapped for the device like the rest. */
int pmd_dma_alloc(struct pmd_port *port, uint64_t size, struct pmd_buffer *out);
/* VFIO only: map [offset, offset+size) of the port's DMA memory at iova /
 * remove a mapping. Sizes and addresses 4 KiB aligned. -ENOTSUP for UIO. */
int pmd_dma_map(struct pmd_port *port, uint64_t iova, uint64_t offset, uint64_t size);
int pmd_dma_unmap(struct pmd_port *port, uint64_t iova, uint64_t size);
/* Point the RX descriptor the device fills next at bus address `bus`; the
 * rx loop puts the ring's own buffer back after that descriptor completes. */
int pmd_rx_point_next(struct pmd_port *port, uint64_t bus);
/* Queue one frame of `size` bytes whose TX descriptor reads from `bus`
 * (any address); waits up to timeout_ms for the descriptor to complete. */
int pmd_tx_from(struct pmd_port *port, uint64_t bus, uint32_t size, uint32_t timeout_ms);

/* ---- packet loops (all per-packet work is here, in C) --------------------- */
/* Frames: dst (NULL: broadcast), src = our MAC, ethertype 0x88B5, magic,
 * 64-bit sequence number from seq_start, length, pattern derived from seq.
 * size: 60..1514 bytes without FCS, up to PMD_FRAME_JUMBO_MAX in pmd_tx_loop
 * (a frame over PMD_BUF_SIZE goes out in several descriptors; receive loops
 * take such frames whole). rate_pps 0: as fast as the ring allows.
 * timeout_ms bounds the time without progress. */
int pmd_tx_loop(struct pmd_port *port, uint64_t count, uint32_t size, uint64_t seq_start,
                const uint8_t *dst_mac, uint64_t rate_pps, uint32_t timeout_ms,
                struct pmd_tx_result *result);
/* Receive until `count` of our frames arrived or timeout_ms passed (then
 * result->timed_out = 1 and the call still returns 0). expect_seq is the first
 * sequence number expected (for the lost/out_of_order accounting). */
int pmd_rx_loop(struct pmd_port *port, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                struct pmd_rx_result *result);
/* Both directions in one thread: tx on `tx`, rx on `rx`, interleaved bursts. */
int pmd_txrx_loop(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size,
                  uint64_t seq_start, uint32_t timeout_ms,
                  struct pmd_tx_result *tx_result, struct pmd_rx_result *rx_result);
/* The same with `check` (enum pmd_check): pmd_txrx_loop is PMD_CHECK_PAYLOAD. */
int pmd_txrx_loop_checked(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size,
                          uint64_t seq_start, uint32_t timeout_ms, int check,
                          struct pmd_tx_result *tx_result, struct pmd_rx_result *rx_result);
/* The CPUs each side's thread ran on last (sched_getcpu). */
struct pmd_txrx_cpus {
    int tx;
    int rx;
};
/* pmd_txrx_loop_checked with TX on a thread of its own and RX on the caller's, as a DPDK
 * application runs one lcore per port; same frames, checks and results. The sender does not
 * wait for the receiver (as testpmd's txonly/rxonly): a lagging receiver loses frames, which
 * are counted; late ones are drained before the call returns. */
int pmd_txrx_loop_threads(struct pmd_port *tx, struct pmd_port *rx, uint64_t count, uint32_t size,
                          uint64_t seq_start, uint32_t timeout_ms, int check,
                          struct pmd_tx_result *tx_result, struct pmd_rx_result *rx_result,
                          struct pmd_txrx_cpus *cpus);
/* Ping-pong between two ports (a sends, b echoes): round-trip times. */
int pmd_pingpong(struct pmd_port *a, struct pmd_port *b, uint64_t count, uint32_t size,
                 uint32_t timeout_ms, struct pmd_pingpong_result *result);
/* The same, also storing each answered round trip in rtt_ns[0 .. answered-1]
 * (rtt_ns: NULL or room for `count` values). */
int pmd_pingpong_rtts(struct pmd_port *a, struct pmd_port *b, uint64_t count, uint32_t size,
                      uint32_t timeout_ms, uint64_t *rtt_ns, struct pmd_pingpong_result *result);

/* io forwarding (forward.c), as testpmd's io mode: what a receives leaves by b and
 * what b receives leaves by a, unchanged; `window` frames of `size` bytes primed on
 * each port. Counts over measure_ms after warm_ms; then drains the rings, so that with
 * the ports cabled to each other primed == drained + dropped when the wire lost nothing.
 * timeout_ms bounds the time without a frame forwarded. */
int pmd_forward(struct pmd_port *a, struct pmd_port *b, uint32_t size, uint32_t window, uint32_t warm_ms,
                uint32_t measure_ms, uint32_t timeout_ms, struct pmd_forward_result *result);

/* ---- the kernel path, same frames (AF_PACKET on a netdev) ------------------ */
int pmd_kernel_tx_loop(const char *ifname, uint64_t count, uint32_t size, uint64_t seq_start,
                       const uint8_t *dst_mac, uint32_t timeout_ms, struct pmd_tx_result *result);
int pmd_kernel_rx_loop(const char *ifname, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                       struct pmd_rx_result *result);
/* The same, but once frames flow it also stops after idle_ms without one of ours
 * (the sender finished and the rest was dropped); idle_ms 0: only timeout_ms. */
int pmd_kernel_rx_idle_loop(const char *ifname, uint64_t count, uint64_t expect_seq, uint32_t timeout_ms,
                            uint32_t idle_ms, struct pmd_rx_result *result);
/* Round trips through the kernel: AF_PACKET ping on if_a, pong from if_b, whose
 * socket is opened inside network namespace netns_b (NULL or "": this one).
 * A ping lost for timeout_ms is counted as sent, not answered. */
int pmd_kernel_pingpong(const char *if_a, const char *if_b, const char *netns_b, uint64_t count,
                        uint32_t size, uint32_t timeout_ms, uint64_t *rtt_ns,
                        struct pmd_pingpong_result *result);

/* ---- network namespaces (for the kernel path's far end) -------------------- */
/* Move the calling thread into netns `name` (`ip netns add` name, or a path);
 * *saved_fd keeps the old one for pmd_netns_leave. Sockets opened in between
 * stay in `name`. */
int pmd_netns_enter(const char *name, int *saved_fd);
int pmd_netns_leave(int saved_fd);

/* ---- several queues, RSS, queue control (queues.c) -------------------------- */
enum pmd_queue_limits {
    PMD_QUEUES_MAX = 16,
    PMD_RX_FRAME_BYTES = 128     /* bytes of each frame pmd_rx_frames keeps */
};
/* Which frames RSS hashes (over their addresses, and ports for TCP/UDP). */
enum pmd_rss_fields {
    PMD_RSS_IPV4 = 1,
    PMD_RSS_IPV4_TCP = 2,
    PMD_RSS_IPV4_UDP = 4
};
/* What the NIC says it hashed (pmd_rx_frame.hash_type). */
enum pmd_rss_hash_type {
    PMD_HASH_NONE = 0,
    PMD_HASH_IPV4 = 1,
    PMD_HASH_IPV4_TCP = 2,
    PMD_HASH_IPV4_UDP = 3,
    PMD_HASH_OTHER = 4
};
struct pmd_rx_frame {
    uint32_t queue;              /* the RX queue it landed in */
    uint32_t len;                /* frame bytes without FCS */
    uint32_t hash;               /* the RSS hash of its descriptor */
    uint32_t hash_type;          /* enum pmd_rss_hash_type */
    uint32_t errors;             /* the descriptor's error bits; 0x80: it spanned descriptors */
    uint8_t data[128];           /* its first PMD_RX_FRAME_BYTES bytes */
};
/* Use rx_queues RX and tx_queues TX queues (1 .. the model's, queue 0 included); the
 * rings of the new ones take the size of queue 0's, at most 256. -ENOTSUP where the
 * driver has one queue pair. Once only. */
int pmd_port_setup_queues(struct pmd_port *port, uint32_t rx_queues, uint32_t tx_queues);
int pmd_port_queue_count(struct pmd_port *port, uint32_t *rx_queues, uint32_t *tx_queues);
/* RSS over `fields` (enum pmd_rss_fields; 0: off, every frame to queue 0) with the
 * 40-byte Toeplitz key and the 128-entry redirection table (queue per entry, each below
 * the RX queues in use). */
int pmd_port_set_rss(struct pmd_port *port, uint32_t fields, const uint8_t *key, const uint8_t *reta);
/* Stop (on 0) or restart RX queue q: a stopped queue takes no frames. */
int pmd_port_rx_queue_enable(struct pmd_port *port, uint32_t queue, int on);
/* Stop the port (RX and TX off) / start it again with everything configured before. */
int pmd_port_stop(struct pmd_port *port);
int pmd_port_start(struct pmd_port *port);
/* Receive from every RX queue until `count` frames (any frames) or timeout_ms, and then
 * idle_ms without one (0: stop at count); *got: frames in out[0 .. *got-1]. */
int pmd_rx_frames(struct pmd_port *port, uint32_t count, uint32_t timeout_ms, uint32_t idle_ms,
                  struct pmd_rx_frame *out, uint32_t *got);
/* Send `count` frames given back to back in `frames` (lengths in lens, 14..PMD_BUF_SIZE
 * bytes without FCS) on TX queue `queue`; waits up to timeout_ms for them to complete. */
int pmd_tx_frames(struct pmd_port *port, uint32_t queue, const uint8_t *frames, const uint32_t *lens,
                  uint32_t count, uint32_t timeout_ms);
/* ---- IPv4 UDP/TCP test frames and per-frame offload metadata (packet.c, packet_port.c) ---- */
/* A frame: Ethernet [+ 802.1Q tag] + IPv4 (20 B, no options) + UDP (8 B) or TCP (20 B)
 * + the NTPM test header in the L4 payload (magic "NTPM", seq u64 LE, payload length
 * u16 LE, kind u16 LE) + pattern byte i = (uint8_t)(seq * 31 + i). */
enum pmd_pkt_l4 {
    PMD_PKT_TCP = 6,
    PMD_PKT_UDP = 17
};
enum pmd_pkt_csum {
    PMD_CSUM_GOOD = 0,       /* IP header and L4 checksums correct */
    PMD_CSUM_BAD_IP = 1,     /* IP header checksum wrong, L4 correct */
    PMD_CSUM_BAD_L4 = 2,     /* L4 checksum wrong, IP correct */
    PMD_CSUM_NIC = 3         /* left for the NIC: IP checksum 0, L4 field = pseudo-header sum */
};
struct pmd_pkt_spec {
    uint8_t dst[6];
    uint8_t src[6];          /* all zero: the sending port's MAC (pmd_port_tx_packets) */
    uint32_t vlan_tagged;    /* 1: an 802.1Q tag (0x8100, vlan_tci) in the frame */
    uint32_t vlan_tci;       /* PCP 15:13, DEI 12, VID 11:0 */
    uint32_t src_ip, dst_ip; /* host byte order: 0x0a000001 is 10.0.0.1 */
    uint32_t l4;             /* enum pmd_pkt_l4 */
    uint32_t src_port, dst_port;
    uint32_t size;           /* frame bytes without FCS (the tag included): 64..1518 */
    uint64_t seq;
    uint32_t csum;           /* enum pmd_pkt_csum */
};
struct pmd_pkt_info {        /* what pmd_packet_parse found in a frame */
    uint32_t ours;           /* 1: IPv4 + UDP/TCP + NTPM header, lengths consistent */
    uint32_t pattern_ok;     /* the payload pattern matches seq */
    uint32_t vlan_tagged;    /* an 802.1Q tag is in the frame */
    uint32_t vlan_tci;
    uint32_t src_ip, dst_ip, l4, src_port, dst_port;
    uint64_t seq;
    uint32_t ip_csum_ok;     /* recomputed here, in C */
    uint32_t l4_csum_ok;     /* UDP checksum 0 (none) counts as not ok */
    uint32_t length;         /* frame bytes */
};
struct pmd_rx_meta {         /* one received frame and what its RX descriptor said */
    uint32_t length;         /* bytes in the buffer */
    uint32_t vlan_stripped;  /* the NIC removed an 802.1Q tag: it is in vlan_tci */
    uint32_t vlan_tci;
    uint32_t ip_checked;     /* the NIC checked the IPv4 header checksum */
    uint32_t ip_error;       /* ... and found it wrong */
    uint32_t l4_checked;     /* the NIC checked the TCP/UDP checksum */
    uint32_t l4_error;
    uint32_t rss_hash;       /* 0 unless RSS is on */
    uint32_t rss_type;
    uint32_t queue;
    uint32_t status;         /* the descriptor's raw status and error bits */
    uint32_t errors;
    struct pmd_pkt_info pkt;
};
struct pmd_tx_offload {      /* what the NIC does to the frames of pmd_port_tx_packets */
    uint32_t vlan_insert;    /* insert an 802.1Q tag with vlan_tci */
    uint32_t vlan_tci;
    uint32_t ip_csum;        /* fill in the IPv4 header checksum */
    uint32_t l4_csum;        /* fill in the TCP/UDP checksum */
};
struct pmd_vlan_config {
    uint32_t strip;          /* RX: remove tags, report them in the descriptor */
    uint32_t filter;         /* RX: drop tagged frames whose VID is not in vids */
    uint32_t count;
    uint16_t vids[64];
};
/* Build spec's frame into buf (cap bytes); its length or -errno. */
int pmd_packet_build(const struct pmd_pkt_spec *spec, uint8_t *buf, uint32_t cap);
/* Parse and check a frame (checksums recomputed); 0 (out->ours says whether it is one). */
int pmd_packet_parse(const uint8_t *frame, uint32_t len, struct pmd_pkt_info *out);
/* Send count frames built from specs with the offloads in off (NULL: none); waits up
 * to timeout_ms for them to complete; frames sent or -errno (-ENOTSUP: the driver
 * cannot do an offload asked for). */
int pmd_port_tx_packets(struct pmd_port *port, const struct pmd_pkt_spec *specs, uint32_t count,
                        const struct pmd_tx_offload *off, uint32_t timeout_ms);
/* Receive up to max frames of ours (pkt.ours; other frames are skipped) with their
 * descriptor metadata; stops early after a frame whose seq is stop_seq, or after
 * timeout_ms. Frames received (>= 0) or -errno. */
int pmd_port_rx_packets(struct pmd_port *port, struct pmd_rx_meta *out, uint32_t max, uint64_t stop_seq,
                        uint32_t timeout_ms);
/* RX VLAN handling / RX checksum checking (ip, l4: 0/1); -ENOTSUP if the driver has none. */
int pmd_port_set_vlan(struct pmd_port *port, const struct pmd_vlan_config *cfg);
int pmd_port_set_rx_csum(struct pmd_port *port, uint32_t ip, uint32_t l4);

#endif
