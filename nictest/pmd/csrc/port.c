/* port.c - a port: backend + DMA memory + the matching device ops. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "regs.h"

static const struct pmd_driver_ops *const drivers[] = {&pmd_e1000e_ops, NULL};

#define SPARE_DMA (2 * PMD_HUGE) /* for pmd_dma_alloc (canaries, scratch) */

static int check_ring(const char *which, uint32_t n)
{
    if (n < 8 || n > 4096 || (n & (n - 1)))
        return pmd_fail(EINVAL, "%s ring size %u: must be a power of two from 8 to 4096 (a multiple of 8 "
                                "descriptors keeps the ring length a multiple of 128 bytes)", which, n);
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
    if ((rc = pmd_dma_take(&port->dma, (uint64_t)size * desc_size, 4096, &r->desc, NULL)) < 0)
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

int pmd_port_open(const char *address, int backend, uint32_t rx_ring, uint32_t tx_ring, uint64_t iova_base,
                  struct pmd_port **out)
{
    int rc;
    pmd_clear_error();
    *out = NULL;
    if (!address || strlen(address) >= sizeof ((struct pmd_port *)0)->address)
        return pmd_fail(EINVAL, "PCI address must look like 0000:00:03.0");
    if (backend != PMD_BACKEND_VFIO && backend != PMD_BACKEND_UIO)
        return pmd_fail(EINVAL, "backend %d: use PMD_BACKEND_VFIO or PMD_BACKEND_UIO", backend);
    if ((rc = check_ring("RX", rx_ring)) < 0 || (rc = check_ring("TX", tx_ring)) < 0)
        return rc;
    if (iova_base == 0)
        iova_base = PMD_DEFAULT_IOVA;
    if (iova_base & (PMD_HUGE - 1))
        return pmd_fail(EINVAL, "IOVA base 0x%llx must be 2 MiB aligned", (unsigned long long)iova_base);

    struct pmd_port *port = calloc(1, sizeof *port);
    if (!port)
        return pmd_fail(ENOMEM, "out of memory");
    port->backend = backend;
    strcpy(port->address, address);
    port->container_fd = port->group_fd = port->device_fd = port->config_fd = -1;

    rc = backend == PMD_BACKEND_VFIO ? pmd_vfio_open(port) : pmd_uio_open(port);
    if (rc < 0)
        goto fail;
    if ((rc = pmd_enable_bus_master(port)) < 0)
        goto fail;
    for (int i = 0; drivers[i]; i++)
        if (drivers[i]->match(port->vendor, port->device))
            port->ops = drivers[i];
    if (!port->ops) {
        rc = pmd_fail(ENOTSUP, "%s is %04x:%04x: no nictest PMD driver for it (known: e1000e 8086:10d3)",
                      address, port->vendor, port->device);
        goto fail;
    }
    if ((rc = port->ops->read_mac(port, port->mac)) < 0)
        goto fail;

    uint64_t main_size = 4096 + (uint64_t)(rx_ring + tx_ring) * (16 + PMD_BUF_SIZE);
    main_size = (main_size + 2 * 4096 + PMD_HUGE - 1) & ~(PMD_HUGE - 1);
    if ((rc = pmd_dma_create(&port->dma, main_size + SPARE_DMA)) < 0)
        goto fail;
    if ((rc = setup_ring(port, &port->rx, rx_ring, sizeof(struct pmd_e1000_rx_desc))) < 0 ||
        (rc = setup_ring(port, &port->tx, tx_ring, sizeof(struct pmd_e1000_tx_desc))) < 0)
        goto fail;
    if (port->dma.used > main_size) {
        rc = pmd_fail(EFAULT, "internal: rings need %llu bytes, %llu reserved",
                      (unsigned long long)port->dma.used, (unsigned long long)main_size);
        goto fail;
    }
    port->dma.used = main_size; /* the spare hugepages start here */
    if (backend == PMD_BACKEND_VFIO) {
        port->dma.iova = iova_base;
        if ((rc = pmd_vfio_map(port, iova_base, port->dma.virt, main_size)) < 0)
            goto fail;
        track_map(port, iova_base, main_size);
    } else if ((rc = pmd_dma_resolve_phys(&port->dma)) < 0) {
        goto fail;
    }
    resolve_ring(port, &port->rx);
    resolve_ring(port, &port->tx);
    if ((rc = port->ops->init(port)) < 0)
        goto fail;
    *out = port;
    return 0;
fail:
    {
        char saved[512];
        snprintf(saved, sizeof saved, "%s", pmd_last_error());
        pmd_port_close(port);
        pmd_fail(-rc, "%s", saved);
    }
    return rc;
}

void pmd_port_close(struct pmd_port *port)
{
    if (!port)
        return;
    /* Order matters: the device must stop DMA before its memory goes away. */
    if (port->bar0 && port->ops)
        port->ops->stop(port);
    if (port->bar0) {
        uint16_t cmd;
        if (pmd_config_read(port, 0x04, &cmd, 2) == 0) {
            cmd &= (uint16_t)~0x0004; /* bus master off */
            pmd_config_write(port, 0x04, &cmd, 2);
        }
    }
    if (port->backend == PMD_BACKEND_VFIO && port->container_fd >= 0)
        for (int i = 0; i < PMD_MAX_EXTRA_MAPS; i++)
            if (port->extra[i].size)
                pmd_vfio_unmap(port, port->extra[i].iova, port->extra[i].size);
    pmd_dma_destroy(&port->dma);
    if (port->backend == PMD_BACKEND_VFIO)
        pmd_vfio_close(port);
    else
        pmd_uio_close(port);
    free(port->rx.buf);
    free(port->rx.buf_bus);
    free(port->tx.buf);
    free(port->tx.buf_bus);
    free(port);
}

int pmd_port_info(struct pmd_port *port, struct pmd_port_info *info)
{
    memset(info, 0, sizeof *info);
    info->backend = port->backend;
    snprintf(info->address, sizeof info->address, "%s", port->address);
    snprintf(info->driver, sizeof info->driver, "%s", port->ops->name);
    info->vendor = port->vendor;
    info->device = port->device;
    info->pci_command = port->pci_command;
    info->vfio_api_version = port->api_version;
    info->iommu_group = port->group;
    info->num_regions = port->num_regions;
    info->num_irqs = port->num_irqs;
    memcpy(info->regions, port->regions, sizeof info->regions);
    memcpy(info->irqs, port->irqs, sizeof info->irqs);
    info->bar0_size = port->bar0_size;
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
    uint32_t n = 0;
    for (const struct pmd_named_reg *r = port->ops->dump_regs; r->name[0] && n < max; r++, n++) {
        out[n] = *r;
        out[n].value = get_reg32(port->bar0, r->offset);
    }
    *count = n;
    return 0;
}

int pmd_port_stats(struct pmd_port *port, struct pmd_stats *stats)
{
    int rc = port->ops->read_stats(port, &port->stats);
    *stats = port->stats;
    return rc;
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
        if (port->backend != PMD_BACKEND_VFIO)
            return pmd_fail(ENOTSUP, "VFIO_DEVICE_RESET needs the VFIO backend");
        if ((rc = pmd_vfio_reset(port)) < 0)
            return rc;
    } else if (kind == PMD_RESET_CTRL_RST) {
        if ((rc = port->ops->reset(port)) < 0)
            return rc;
    } else if (kind != PMD_RESET_NONE) {
        return pmd_fail(EINVAL, "reset kind %d: use PMD_RESET_NONE, _VFIO or _CTRL_RST", kind);
    }
    /* A function reset may clear the PCI command register: bus mastering again. */
    if ((rc = pmd_enable_bus_master(port)) < 0)
        return rc;
    return port->ops->init(port);
}

static int reg_ok(struct pmd_port *port, uint32_t offset)
{
    if ((offset & 3) || (uint64_t)offset + 4 > port->bar0_size)
        return pmd_fail(EINVAL, "register offset 0x%x: must be 4-byte aligned and inside BAR0 (0x%llx bytes)",
                        offset, (unsigned long long)port->bar0_size);
    return 0;
}

int pmd_reg_read(struct pmd_port *port, uint32_t offset, uint32_t *value)
{
    int rc = reg_ok(port, offset);
    if (rc == 0)
        *value = get_reg32(port->bar0, offset);
    return rc;
}

int pmd_reg_write(struct pmd_port *port, uint32_t offset, uint32_t value)
{
    int rc = reg_ok(port, offset);
    if (rc == 0)
        set_reg32(port->bar0, offset, value);
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
    if (port->backend == PMD_BACKEND_VFIO) {
        if ((rc = pmd_vfio_map(port, port->dma.iova + off, v, size)) < 0)
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
    if (port->backend != PMD_BACKEND_VFIO)
        return pmd_fail(ENOTSUP, "DMA mappings need the VFIO backend (UIO has no IOMMU)");
    if ((iova | offset | size) & 4095 || size == 0 || offset + size > port->dma.size)
        return pmd_fail(EINVAL, "map iova 0x%llx offset 0x%llx size 0x%llx: 4 KiB aligned, inside the %llu bytes of DMA memory",
                        (unsigned long long)iova, (unsigned long long)offset, (unsigned long long)size,
                        (unsigned long long)port->dma.size);
    if ((rc = pmd_vfio_map(port, iova, port->dma.virt + offset, size)) < 0)
        return rc;
    return track_map(port, iova, size);
}

int pmd_dma_unmap(struct pmd_port *port, uint64_t iova, uint64_t size)
{
    pmd_clear_error();
    if (port->backend != PMD_BACKEND_VFIO)
        return pmd_fail(ENOTSUP, "DMA mappings need the VFIO backend (UIO has no IOMMU)");
    /* Type1 v1 unmaps whole mappings that overlap the range: only allow exact ones. */
    for (int i = 0; i < PMD_MAX_EXTRA_MAPS; i++)
        if (port->extra[i].size == size && port->extra[i].iova == iova) {
            int rc = pmd_vfio_unmap(port, iova, size);
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
