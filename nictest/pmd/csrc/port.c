/* port.c - a port: a device (device.c) + the driver the ID table names for it
 * (drivers/registry.c) + hugepage DMA memory + the driver's rings. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "regs.h"

#define SPARE_DMA (2 * PMD_HUGE) /* for pmd_dma_alloc (canaries, scratch) */
#define RING_PAGE 4096           /* rings start on a page: more than any ring alignment */

static int ring_shape(const char *which, uint32_t n)
{
    if (n == 0 || (n & (n - 1)))
        return pmd_fail(EINVAL, "%s ring size %u: must be a power of two (the driver sets the range)", which, n);
    return 0;
}

static int check_ring(const struct pmd_driver_ops *ops, const char *which, uint32_t n)
{
    uint32_t min = 8;
    while (min * ops->rx_desc_size % ops->ring_align || min * ops->tx_desc_size % ops->ring_align)
        min *= 2;
    if (n < min || n > ops->ring_max || (n & (n - 1)))
        return pmd_fail(EINVAL, "%s ring size %u: the %s driver takes powers of two from %u to %u (a ring "
                                "length must be a multiple of %u bytes)", which, n, ops->name, min, ops->ring_max,
                        ops->ring_align);
    return 0;
}

static int track_map(struct pmd_port *port, uint64_t iova, uint64_t size)
{
    for (int i = 0; i < PMD_MAX_EXTRA_MAPS; i++)
        if (port->extra[i].size == 0) {
            port->extra[i] = (struct pmd_extra_map){iova, size};
            return 0;
        }
    return pmd_fail(ENOSPC, "more than %d DMA mappings on one port", PMD_MAX_EXTRA_MAPS);
}

static int setup_ring(struct pmd_port *port, struct pmd_ring_state *r, uint32_t size, uint32_t desc_size)
{
    void *v;
    int rc;
    r->size = size;
    if ((rc = pmd_dma_take(&port->dma, (uint64_t)size * desc_size, RING_PAGE, &r->desc, NULL)) < 0)
        return rc;
    r->buf = calloc(size, sizeof *r->buf);
    r->buf_bus = calloc(size, sizeof *r->buf_bus);
    if (!r->buf || !r->buf_bus)
        return pmd_fail(ENOMEM, "out of memory for ring bookkeeping");
    for (uint32_t i = 0; i < size; i++) {
        if ((rc = pmd_dma_take(&port->dma, PMD_BUF_SIZE, PMD_BUF_SIZE, &v, NULL)) < 0)
            return rc;
        r->buf[i] = v;
    }
    return 0;
}

static void resolve_ring(struct pmd_port *port, struct pmd_ring_state *r)
{
    r->desc_bus = pmd_dma_bus(&port->dma, r->desc);
    for (uint32_t i = 0; i < r->size; i++)
        r->buf_bus[i] = pmd_dma_bus(&port->dma, r->buf[i]);
}

static int find_driver(struct pmd_port *port)
{
    struct pmd_device *dev = port->dev;
    const struct pmd_model *m = pmd_model_find(dev->vendor, dev->device);
    if (!m) {
        char known[400];
        pmd_models_describe(known, sizeof known);
        return pmd_fail(ENOTSUP, "%s is %04x:%04x: no nictest PMD driver for it; drivers: %s", dev->address,
                        dev->vendor, dev->device, known);
    }
    port->board = m->board;
    port->ops = m->board->ops;
    if (dev->bar_index != (int)port->board->reg_bar)
        return pmd_fail(ENODEV, "%s (%s): the %s driver needs BAR%u mapped, the device offers BAR%d",
                        dev->address, m->name, port->ops->name, port->board->reg_bar, dev->bar_index);
    port->regs = dev->bar;
    return 0;
}

/* DMA memory: rings + buffers, then spare hugepages for pmd_dma_alloc. */
static int setup_memory(struct pmd_port *port, uint32_t rx_ring, uint32_t tx_ring, uint64_t iova_base)
{
    const struct pmd_driver_ops *ops = port->ops;
    int rc;
    uint64_t main_size = (uint64_t)rx_ring * (ops->rx_desc_size + PMD_BUF_SIZE) +
                         (uint64_t)tx_ring * (ops->tx_desc_size + PMD_BUF_SIZE) + 4 * RING_PAGE;
    main_size = (main_size + PMD_HUGE - 1) & ~(PMD_HUGE - 1);
    if ((rc = pmd_dma_create(&port->dma, main_size + SPARE_DMA)) < 0)
        return rc;
    if ((rc = setup_ring(port, &port->rx, rx_ring, ops->rx_desc_size)) < 0 ||
        (rc = setup_ring(port, &port->tx, tx_ring, ops->tx_desc_size)) < 0)
        return rc;
    if (port->dma.used > main_size)
        return pmd_fail(EFAULT, "internal: rings need %llu bytes, %llu reserved",
                        (unsigned long long)port->dma.used, (unsigned long long)main_size);
    port->dma.used = main_size; /* the spare hugepages start here */
    if (port->dev->backend->iommu) {
        port->dma.iova = iova_base;
        if ((rc = port->dev->backend->map(port->dev, iova_base, port->dma.virt, main_size)) < 0)
            return rc;
        track_map(port, iova_base, main_size);
    } else if ((rc = pmd_dma_resolve_phys(&port->dma)) < 0) {
        return rc;
    }
    resolve_ring(port, &port->rx);
    resolve_ring(port, &port->tx);
    return 0;
}

static void undo_open(void *port) { pmd_port_close(port); }

int pmd_port_open(const char *address, int backend, uint32_t rx_ring, uint32_t tx_ring, uint64_t iova_base,
                  struct pmd_port **out)
{
    int rc;
    pmd_clear_error();
    *out = NULL;
    if ((rc = ring_shape("RX", rx_ring)) < 0 || (rc = ring_shape("TX", tx_ring)) < 0)
        return rc; /* before any device file is opened */
    if (iova_base == 0)
        iova_base = PMD_DEFAULT_IOVA;
    if (iova_base & (PMD_HUGE - 1))
        return pmd_fail(EINVAL, "IOVA base 0x%llx must be 2 MiB aligned", (unsigned long long)iova_base);

    struct pmd_port *port = calloc(1, sizeof *port);
    if (!port)
        return pmd_fail(ENOMEM, "out of memory");
    if ((rc = pmd_device_open(address, backend, NULL, &port->dev)) < 0) {
        free(port);
        return rc;
    }
    if ((rc = find_driver(port)) < 0 || (rc = check_ring(port->ops, "RX", rx_ring)) < 0 ||
        (rc = check_ring(port->ops, "TX", tx_ring)) < 0)
        goto fail;
    if ((rc = pmd_device_bus_master(port->dev, 1)) < 0 || (rc = port->ops->read_mac(port, port->mac)) < 0)
        goto fail;
    if (!(port->chain.buf = malloc(PMD_CHAIN_MAX))) {
        rc = pmd_fail(ENOMEM, "out of memory for the RX frame assembly buffer");
        goto fail;
    }
    if ((rc = setup_memory(port, rx_ring, tx_ring, iova_base)) < 0 || (rc = port->ops->init(port)) < 0)
        goto fail;
    *out = port;
    return 0;
fail:
    return pmd_fail_undo(rc, undo_open, port);
}

void pmd_port_close(struct pmd_port *port)
{
    if (!port)
        return;
    struct pmd_device *dev = port->dev;
    /* Order matters: the device must stop DMA before its memory goes away. */
    if (port->regs && port->ops)
        port->ops->stop(port);
    if (dev && dev->bar)
        pmd_device_bus_master(dev, 0);
    if (dev && dev->backend->iommu)
        for (int i = 0; i < PMD_MAX_EXTRA_MAPS; i++)
            if (port->extra[i].size)
                dev->backend->unmap(dev, port->extra[i].iova, port->extra[i].size);
    pmd_queues_free(port);
    pmd_dma_destroy(&port->dma);
    pmd_device_close(dev);
    free(port->rx.buf);
    free(port->rx.buf_bus);
    free(port->tx.buf);
    free(port->tx.buf_bus);
    free(port->chain.buf);
    free(port);
}

int pmd_port_info(struct pmd_port *port, struct pmd_port_info *info)
{
    memset(info, 0, sizeof *info);
    int rc = pmd_device_info(port->dev, &info->dev);
    if (rc < 0)
        return rc;
    if ((rc = pmd_model_lookup(port->dev->vendor, port->dev->device, &info->model)) < 0)
        return rc;
    memcpy(info->mac, port->mac, 6);
    port->ops->link(port, &info->link_up, &info->status);
    info->rx_ring_size = port->rx.size;
    info->tx_ring_size = port->tx.size;
    info->dma_size = port->dma.size;
    info->dma_bus_base = pmd_dma_bus(&port->dma, port->dma.virt);
    info->rx_ring_bus = port->rx.desc_bus;
    info->tx_ring_bus = port->tx.desc_bus;
    return 0;
}

int pmd_port_regs(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max, uint32_t *count)
{
    pmd_clear_error();
    int n = port->ops->dump(port, out, max);
    if (n < 0)
        return n;
    *count = (uint32_t)n;
    return 0;
}

int pmd_port_reg_write(struct pmd_port *port, const char *name, uint32_t value)
{
    struct pmd_named_reg regs[PMD_MAX_NAMED_REGS];
    pmd_clear_error();
    int n = port->ops->dump(port, regs, PMD_MAX_NAMED_REGS);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++)
        if (strcmp(regs[i].name, name) == 0) {
            set_reg32(port->regs, regs[i].offset, value);
            return 0;
        }
    return pmd_fail(ENOENT, "the %s driver has no register called \"%s\" (pmd_port_regs lists them)",
                    port->ops->name, name);
}

/* ---- dump helpers for drivers ---- */
int pmd_dump_put(struct pmd_named_reg *out, uint32_t max, uint32_t n, const char *name, const char *hw,
                 uint32_t offset, uint64_t value)
{
    if (n >= max)
        return pmd_fail(ENOSPC, "more than %u named registers", max);
    memset(&out[n], 0, sizeof out[n]);
    snprintf(out[n].name, sizeof out[n].name, "%s", name);
    snprintf(out[n].hw, sizeof out[n].hw, "%s", hw);
    out[n].offset = offset;
    out[n].value = value;
    return (int)n + 1;
}

int pmd_dump_map(struct pmd_port *port, const struct pmd_reg_map *map, struct pmd_named_reg *out, uint32_t max)
{
    int n = 0;
    for (const struct pmd_reg_map *r = map; r->name; r++) {
        uint64_t v = get_reg32(port->regs, r->lo);
        if (r->hi >= 0)
            v |= (uint64_t)get_reg32(port->regs, (uint32_t)r->hi) << 32;
        if ((n = pmd_dump_put(out, max, (uint32_t)n, r->name, r->hw, r->lo, v)) < 0)
            return n;
    }
    return n;
}

int pmd_port_stats(struct pmd_port *port, struct pmd_stats *stats)
{
    int rc = port->ops->read_stats(port, &port->stats);
    *stats = port->stats;
    return rc;
}

int pmd_port_stats_read(struct pmd_port *port, struct pmd_stats *delta)
{
    _Static_assert(sizeof(struct pmd_stats) % sizeof(uint64_t) == 0, "pmd_stats is all uint64_t");
    pmd_clear_error();
    memset(delta, 0, sizeof *delta);
    int rc = port->ops->read_stats(port, delta);
    uint64_t *acc = (uint64_t *)&port->stats;
    const uint64_t *d = (const uint64_t *)delta;
    for (size_t i = 0; i < sizeof *delta / sizeof(uint64_t); i++)
        acc[i] += d[i];
    return rc;
}

void pmd_rx_deliver(struct pmd_port *port, const uint8_t *data, uint32_t len, int eop, uint8_t errors,
                    pmd_recv_fn recv, void *ctx)
{
    struct pmd_rx_chain *c = &port->chain;
    if (eop && c->len == 0 && !c->overflow) {
        recv(ctx, data, len, errors); /* the common case: one descriptor, no copy */
        return;
    }
    if (!c->overflow && c->len + len <= PMD_CHAIN_MAX) {
        memcpy(c->buf + c->len, data, len);
        c->len += len;
    } else {
        c->overflow = 1;
    }
    c->errors |= errors;
    if (!eop)
        return;
    if (c->overflow)
        recv(ctx, c->buf, 0, (uint8_t)(c->errors | 0x80));
    else
        recv(ctx, c->buf, c->len, c->errors);
    c->len = 0;
    c->errors = 0;
    c->overflow = 0;
}

/* ---- MAC configuration ---- */
static int mac_ops_ok(struct pmd_port *port, const char *what, const void *fn)
{
    if (!fn)
        return pmd_fail(ENOTSUP, "the %s driver cannot %s", port->ops->name, what);
    return 0;
}

int pmd_port_set_max_frame(struct pmd_port *port, uint32_t max_frame, uint32_t *limit)
{
    int rc;
    pmd_clear_error();
    if ((rc = mac_ops_ok(port, "set the maximum frame size", (const void *)port->ops->set_max_frame)) < 0)
        return rc;
    if (max_frame < PMD_FRAME_MIN + 4 || max_frame > port->board->max_frame || max_frame > PMD_FRAME_JUMBO_MAX + 4)
        return pmd_fail(EINVAL, "max frame %u bytes: the %s driver takes %d..%u (with FCS)", max_frame,
                        port->ops->name, PMD_FRAME_MIN + 4,
                        port->board->max_frame < PMD_FRAME_JUMBO_MAX + 4 ? port->board->max_frame
                                                                          : PMD_FRAME_JUMBO_MAX + 4);
    return port->ops->set_max_frame(port, max_frame, limit);
}

int pmd_port_set_rx_mode(struct pmd_port *port, uint32_t mode)
{
    int rc;
    pmd_clear_error();
    if ((rc = mac_ops_ok(port, "set the RX filter mode", (const void *)port->ops->set_rx_mode)) < 0)
        return rc;
    if (mode & ~(uint32_t)(PMD_RX_UNICAST_PROMISC | PMD_RX_MULTICAST_PROMISC | PMD_RX_BROADCAST))
        return pmd_fail(EINVAL, "RX mode 0x%x: only PMD_RX_UNICAST_PROMISC (1), _MULTICAST_PROMISC (2), "
                                "_BROADCAST (4)", mode);
    return port->ops->set_rx_mode(port, mode);
}

int pmd_port_set_mac_filter(struct pmd_port *port, uint32_t index, const uint8_t *mac)
{
    int rc;
    pmd_clear_error();
    if ((rc = mac_ops_ok(port, "set unicast filter entries", (const void *)port->ops->set_mac_filter)) < 0)
        return rc;
    if (index == 0 || index >= port->board->mac_filters)
        return pmd_fail(EINVAL, "unicast filter entry %u: the %s driver has entries 1..%u (0 is the port's own MAC)",
                        index, port->ops->name, port->board->mac_filters - 1);
    if (mac && (mac[0] & 1))
        return pmd_fail(EINVAL, "unicast filter entry %u: %02x:..: is a multicast address (use the multicast table)",
                        index, mac[0]);
    return port->ops->set_mac_filter(port, index, mac);
}

int pmd_port_set_mc_table(struct pmd_port *port, const uint8_t *macs, uint32_t count)
{
    int rc;
    pmd_clear_error();
    if ((rc = mac_ops_ok(port, "set the multicast table", (const void *)port->ops->set_mc_table)) < 0)
        return rc;
    for (uint32_t i = 0; i < count; i++)
        if (!(macs[6 * i] & 1))
            return pmd_fail(EINVAL, "multicast table address %u (%02x:...): not a multicast address", i, macs[6 * i]);
    return port->ops->set_mc_table(port, macs, count);
}

int pmd_port_link(struct pmd_port *port, uint32_t timeout_ms, int *up, uint32_t *status)
{
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct timespec pause = {0, 1000000};
    for (;;) {
        port->ops->link(port, up, status);
        if (*up || pmd_now_ns() >= deadline)
            return 0;
        nanosleep(&pause, NULL);
    }
}

int pmd_port_reset(struct pmd_port *port, int kind)
{
    int rc;
    pmd_clear_error();
    port->ops->read_stats(port, &port->stats); /* keep the counts a reset may clear */
    port->ops->stop(port);
    if (kind == PMD_RESET_VFIO) {
        if ((rc = port->dev->backend->reset(port->dev)) < 0)
            return rc;
    } else if (kind == PMD_RESET_DEVICE) {
        if (!(port->board->resets & (1u << PMD_RESET_DEVICE)))
            return pmd_fail(ENOTSUP, "the %s driver has no software reset", port->ops->name);
        if ((rc = port->ops->reset(port)) < 0)
            return rc;
    } else if (kind != PMD_RESET_NONE) {
        return pmd_fail(EINVAL, "reset kind %d: use PMD_RESET_NONE, _VFIO or _DEVICE", kind);
    }
    port->chain.len = 0; /* a frame half-received before the reset is gone */
    port->chain.errors = 0;
    port->chain.overflow = 0;
    /* A function reset may clear the PCI command register: bus mastering again. */
    if ((rc = pmd_device_bus_master(port->dev, 1)) < 0)
        return rc;
    return port->ops->init(port);
}

static int reg_ok(struct pmd_port *port, uint32_t offset)
{
    if ((offset & 3) || (uint64_t)offset + 4 > port->dev->bar_size)
        return pmd_fail(EINVAL, "register offset 0x%x: must be 4-byte aligned and inside BAR%d (0x%llx bytes)",
                        offset, port->dev->bar_index, (unsigned long long)port->dev->bar_size);
    return 0;
}

int pmd_reg_read(struct pmd_port *port, uint32_t offset, uint32_t *value)
{
    int rc = reg_ok(port, offset);
    if (rc == 0)
        *value = get_reg32(port->regs, offset);
    return rc;
}

int pmd_reg_write(struct pmd_port *port, uint32_t offset, uint32_t value)
{
    int rc = reg_ok(port, offset);
    if (rc == 0)
        set_reg32(port->regs, offset, value);
    return rc;
}

int pmd_dma_alloc(struct pmd_port *port, uint64_t size, struct pmd_buffer *out)
{
    void *v;
    uint64_t off;
    int rc;
    pmd_clear_error();
    size = (size + 4095) & ~4095ull; /* whole IOMMU pages, so each buffer maps alone */
    if ((rc = pmd_dma_take(&port->dma, size, 4096, &v, &off)) < 0)
        return rc;
    if (port->dev->backend->iommu) {
        if ((rc = port->dev->backend->map(port->dev, port->dma.iova + off, v, size)) < 0)
            return rc;
        if ((rc = track_map(port, port->dma.iova + off, size)) < 0)
            return rc;
    }
    *out = (struct pmd_buffer){v, pmd_dma_bus(&port->dma, v), off, size};
    return 0;
}

int pmd_dma_map(struct pmd_port *port, uint64_t iova, uint64_t offset, uint64_t size)
{
    int rc;
    pmd_clear_error();
    if (!port->dev->backend->iommu)
        return port->dev->backend->map(port->dev, iova, NULL, size); /* says why not */
    if ((iova | offset | size) & 4095 || size == 0 || offset + size > port->dma.size)
        return pmd_fail(EINVAL, "map iova 0x%llx offset 0x%llx size 0x%llx: 4 KiB aligned, inside the %llu bytes of DMA memory",
                        (unsigned long long)iova, (unsigned long long)offset, (unsigned long long)size,
                        (unsigned long long)port->dma.size);
    if ((rc = port->dev->backend->map(port->dev, iova, port->dma.virt + offset, size)) < 0)
        return rc;
    return track_map(port, iova, size);
}

int pmd_dma_unmap(struct pmd_port *port, uint64_t iova, uint64_t size)
{
    pmd_clear_error();
    if (!port->dev->backend->iommu)
        return port->dev->backend->unmap(port->dev, iova, size); /* says why not */
    /* Type1 v1 unmaps whole mappings that overlap the range: only allow exact ones. */
    for (int i = 0; i < PMD_MAX_EXTRA_MAPS; i++)
        if (port->extra[i].size == size && port->extra[i].iova == iova) {
            int rc = port->dev->backend->unmap(port->dev, iova, size);
            if (rc == 0)
                port->extra[i].size = 0;
            return rc;
        }
    return pmd_fail(EINVAL, "no mapping at iova 0x%llx of size 0x%llx: unmap exactly what pmd_port_open, "
                            "pmd_dma_alloc or pmd_dma_map mapped", (unsigned long long)iova, (unsigned long long)size);
}

int pmd_rx_point_next(struct pmd_port *port, uint64_t bus)
{
    pmd_clear_error();
    return port->ops->rx_point_next(port, bus);
}

int pmd_tx_from(struct pmd_port *port, uint64_t bus, uint32_t size, uint32_t timeout_ms)
{
    int rc;
    pmd_clear_error();
    if (size < PMD_FRAME_MIN || size > PMD_FRAME_MAX)
        return pmd_fail(EINVAL, "frame size %u: 60..1514", size);
    if ((rc = port->ops->tx_raw(port, bus, size)) < 0)
        return rc;
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (port->ops->tx_clean(port) > 0)
        if (pmd_now_ns() >= deadline)
            return pmd_fail(ETIMEDOUT, "TX descriptor not completed within %u ms", timeout_ms);
    return 0;
}
