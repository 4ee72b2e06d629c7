/* device.c - a PCI function opened through a backend (VFIO or UIO), without a
 * driver: what the model-independent suites need, and what a port builds on. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regs.h"

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define REGION_MMAP 0x4          /* VFIO_REGION_INFO_FLAG_MMAP, also set by the UIO backend */
#define NUM_BARS 6

static const struct pmd_backend_ops *const backends[] = {&pmd_vfio_backend, &pmd_uio_backend, NULL};

static const struct pmd_backend_ops *backend_of(int id)
{
    for (int i = 0; backends[i]; i++)
        if (backends[i]->id == id)
            return backends[i];
    return NULL;
}

int pmd_device_config_read(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len)
{
    return dev->backend->config_read(dev, off, buf, len);
}

int pmd_device_config_write(struct pmd_device *dev, uint32_t off, const void *buf, uint32_t len)
{
    return dev->backend->config_write(dev, off, buf, len);
}

static int command_set(struct pmd_device *dev, uint16_t set, uint16_t clear)
{
    uint16_t cmd;
    int rc;
    if ((rc = pmd_device_config_read(dev, PCI_COMMAND, &cmd, 2)) < 0)
        return rc;
    cmd = (uint16_t)((cmd | set) & ~clear);
    if ((rc = pmd_device_config_write(dev, PCI_COMMAND, &cmd, 2)) < 0)
        return rc;
    if ((rc = pmd_device_config_read(dev, PCI_COMMAND, &dev->pci_command, 2)) < 0)
        return rc;
    if ((dev->pci_command & (set | clear)) != set)
        return pmd_fail(EIO, "%s: PCI command reads 0x%04x after setting 0x%04x and clearing 0x%04x",
                        dev->address, dev->pci_command, set, clear);
    return 0;
}

int pmd_device_bus_master(struct pmd_device *dev, int on)
{
    return on ? command_set(dev, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0)
              : command_set(dev, 0, PCI_COMMAND_MASTER);
}

/* The first memory BAR the backend can mmap (the register BAR of every NIC we know). */
static int map_first_bar(struct pmd_device *dev)
{
    for (uint32_t i = 0; i < NUM_BARS && i < dev->num_regions; i++) {
        const struct pmd_region_info *r = &dev->regions[i];
        if (!(r->flags & REGION_MMAP) || r->size == 0)
            continue;
        void *p;
        uint64_t size;
        int rc = dev->backend->map_bar(dev, i, &p, &size);
        if (rc < 0)
            return rc;
        dev->bar = p;
        dev->bar_size = size;
        dev->bar_index = (int)i;
        return 0;
    }
    return 0; /* no mmap-able memory BAR: recorded as bar_index -1 */
}

static void undo_open(void *dev) { pmd_device_close(dev); }

int pmd_device_open(const char *address, int backend, const char *vf_token, struct pmd_device **out)
{
    int rc;
    pmd_clear_error();
    *out = NULL;
    const struct pmd_backend_ops *ops = backend_of(backend);
    if (!ops)
        return pmd_fail(EINVAL, "backend %d: use PMD_BACKEND_VFIO or PMD_BACKEND_UIO", backend);
    if (!address || strlen(address) >= sizeof ((struct pmd_device *)0)->address)
        return pmd_fail(EINVAL, "PCI address must look like 0000:00:03.0");
    if (vf_token && *vf_token) {
        uint8_t uuid[16];
        if (backend != PMD_BACKEND_VFIO)
            return pmd_fail(EINVAL, "a VF token is VFIO's: open %s with backend vfio", address);
        if ((rc = pmd_vf_token_parse(vf_token, uuid)) < 0)
            return rc;
    }
    struct pmd_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return pmd_fail(ENOMEM, "out of memory");
    dev->backend = ops;
    strcpy(dev->address, address);
    snprintf(dev->vf_token, sizeof dev->vf_token, "%s", vf_token ? vf_token : "");
    dev->container_fd = dev->group_fd = dev->device_fd = dev->config_fd = -1;
    dev->bar_index = -1;
    if ((rc = ops->open(dev)) < 0 || (rc = ops->irq_info(dev)) < 0)
        goto fail;
    if ((rc = pmd_device_config_read(dev, PCI_VENDOR_ID, &dev->vendor, 2)) < 0 ||
        (rc = pmd_device_config_read(dev, PCI_DEVICE_ID, &dev->device, 2)) < 0)
        goto fail;
    if ((rc = command_set(dev, PCI_COMMAND_MEMORY, 0)) < 0 || (rc = map_first_bar(dev)) < 0)
        goto fail;
    *out = dev;
    return 0;
fail:
    return pmd_fail_undo(rc, undo_open, dev);
}

void pmd_device_close(struct pmd_device *dev)
{
    if (!dev)
        return;
    if (dev->bar)
        dev->backend->unmap_bar(dev, (void *)dev->bar, dev->bar_size);
    dev->bar = NULL;
    dev->backend->close(dev);
    free(dev);
}

int pmd_device_info(struct pmd_device *dev, struct pmd_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->backend = dev->backend->id;
    snprintf(info->address, sizeof info->address, "%s", dev->address);
    info->vendor = dev->vendor;
    info->device = dev->device;
    info->vfio_api_version = dev->api_version;
    info->iommu_group = dev->group;
    info->device_flags = dev->device_flags;
    info->num_regions = dev->num_regions;
    info->num_irqs = dev->num_irqs;
    memcpy(info->regions, dev->regions, sizeof info->regions);
    memcpy(info->irqs, dev->irqs, sizeof info->irqs);
    info->bar_index = dev->bar_index;
    info->bar_size = dev->bar_size;
    return pmd_device_config_read(dev, PCI_COMMAND, &info->pci_command, 2);
}

int pmd_device_config(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len)
{
    pmd_clear_error();
    if (len == 0 || len > 4096 || off > 4096 - len)
        return pmd_fail(EINVAL, "config read of %u bytes at 0x%x: must lie inside the 4 KiB of config space",
                        len, off);
    return pmd_device_config_read(dev, off, buf, len);
}

static int bar_offset_ok(struct pmd_device *dev, uint64_t off)
{
    if (!dev->bar)
        return pmd_fail(ENODEV, "%s has no mmap-able memory BAR", dev->address);
    if ((off & 3) || off + 4 > dev->bar_size)
        return pmd_fail(EINVAL, "BAR%d offset 0x%llx: must be 4-byte aligned and inside its 0x%llx bytes",
                        dev->bar_index, (unsigned long long)off, (unsigned long long)dev->bar_size);
    return 0;
}

int pmd_device_bar_read(struct pmd_device *dev, uint32_t off, uint32_t *value)
{
    pmd_clear_error();
    int rc = bar_offset_ok(dev, off);
    if (rc == 0)
        *value = get_reg32(dev->bar, off);
    return rc;
}

int pmd_device_region_read(struct pmd_device *dev, uint32_t index, uint64_t off, uint32_t *value)
{
    pmd_clear_error();
    if (index >= dev->num_regions || (off & 3) || off + 4 > dev->regions[index].size)
        return pmd_fail(EINVAL, "region %u offset 0x%llx: no such region, or not 4-byte aligned inside it",
                        index, (unsigned long long)off);
    return dev->backend->region_read(dev, index, off, value, 4);
}
