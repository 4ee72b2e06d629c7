/* vfio.c - the VFIO type1 backend.
 *
 * container (/dev/vfio/vfio) -> group (/dev/vfio/N, must be viable) ->
 * SET_CONTAINER -> SET_IOMMU(TYPE1) -> device fd; region and IRQ info; BAR0
 * mmap; config space through the config region; DMA mapped at IOVAs the
 * driver chooses; everything mapped is unmapped on close. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "internal.h"

static int iommu_group_of(const char *address, int *group)
{
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", address);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) {
        int err = errno;
        if (err == ENOENT)
            return pmd_fail(ENODEV, "%s has no iommu_group: no such device, or the IOMMU is off "
                                    "(boot with intel_iommu=on iommu=on / amd_iommu=on)", address);
        return pmd_fail(err, "readlink %s: %s", link, strerror(err));
    }
    target[n] = '\0';
    char *end;
    const char *base = basename(target);
    long g = strtol(base, &end, 10);
    if (end == base || *end)
        return pmd_fail(EINVAL, "unexpected iommu_group link %s -> %s", link, target);
    *group = (int)g;
    return 0;
}

int pmd_vfio_open(struct pmd_port *port)
{
    char path[64];
    int rc;

    if ((rc = iommu_group_of(port->address, &port->group)) < 0)
        return rc;
    port->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (port->container_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open /dev/vfio/vfio: %s (modprobe vfio-pci; run as root)", strerror(err));
    }
    port->api_version = ioctl(port->container_fd, VFIO_GET_API_VERSION);
    if (port->api_version != VFIO_API_VERSION)
        return pmd_fail(EINVAL, "VFIO API version %d, this driver knows %d", port->api_version, VFIO_API_VERSION);
    if (ioctl(port->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) != 1)
        return pmd_fail(ENOTSUP, "the VFIO container does not support the TYPE1 IOMMU");

    snprintf(path, sizeof path, "/dev/vfio/%d", port->group);
    port->group_fd = open(path, O_RDWR | O_CLOEXEC);
    if (port->group_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s (is %s bound to vfio-pci? is the group held by another process?)",
                        path, strerror(err), port->address);
    }
    struct vfio_group_status gs = {.argsz = sizeof gs};
    if (ioctl(port->group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_GROUP_GET_STATUS on %s: %s", path, strerror(err));
    }
    if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
        return pmd_fail(EBUSY, "IOMMU group %d is not viable: every device in it must be bound to vfio-pci "
                               "(or have no driver)", port->group);
    if (ioctl(port->group_fd, VFIO_GROUP_SET_CONTAINER, &port->container_fd) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_GROUP_SET_CONTAINER for group %d: %s", port->group, strerror(err));
    }
    if (ioctl(port->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_SET_IOMMU(TYPE1): %s%s", strerror(err),
                        err == EPERM ? " (no interrupt remapping? see dmesg: allow_unsafe_interrupts)" : "");
    }
    port->device_fd = ioctl(port->group_fd, VFIO_GROUP_GET_DEVICE_FD, port->address);
    if (port->device_fd < 0) {
        int err = errno;
        port->device_fd = -1;
        return pmd_fail(err, "VFIO_GROUP_GET_DEVICE_FD %s: %s", port->address, strerror(err));
    }

    struct vfio_device_info di = {.argsz = sizeof di};
    if (ioctl(port->device_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_DEVICE_GET_INFO: %s", strerror(err));
    }
    port->num_regions = di.num_regions < PMD_MAX_REGIONS ? di.num_regions : PMD_MAX_REGIONS;
    port->num_irqs = di.num_irqs < PMD_MAX_IRQS ? di.num_irqs : PMD_MAX_IRQS;
    for (uint32_t i = 0; i < port->num_regions; i++) {
        struct vfio_region_info ri = {.argsz = sizeof ri, .index = i};
        if (ioctl(port->device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) {
            int err = errno;
            if (err == EINVAL) { /* e.g. VGA region absent */
                port->regions[i].index = i;
                continue;
            }
            return pmd_fail(err, "VFIO_DEVICE_GET_REGION_INFO %u: %s", i, strerror(err));
        }
        port->regions[i] = (struct pmd_region_info){ri.index, ri.flags, ri.size, ri.offset};
    }
    for (uint32_t i = 0; i < port->num_irqs; i++) {
        struct vfio_irq_info ii = {.argsz = sizeof ii, .index = i};
        if (ioctl(port->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) {
            int err = errno;
            return pmd_fail(err, "VFIO_DEVICE_GET_IRQ_INFO %u: %s", i, strerror(err));
        }
        port->irqs[i] = (struct pmd_irq_info){ii.index, ii.flags, ii.count};
    }
    if (port->num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
        return pmd_fail(ENODEV, "%s: VFIO reports only %u regions, no config region", port->address,
                        port->num_regions);
    port->config_offset = port->regions[VFIO_PCI_CONFIG_REGION_INDEX].offset;

    struct pmd_region_info *bar0 = &port->regions[VFIO_PCI_BAR0_REGION_INDEX];
    if (!(bar0->flags & VFIO_REGION_INFO_FLAG_MMAP) || bar0->size == 0)
        return pmd_fail(ENOTSUP, "%s: BAR0 (%llu bytes, flags 0x%x) cannot be mmap'ed", port->address,
                        (unsigned long long)bar0->size, bar0->flags);
    void *p = mmap(NULL, bar0->size, PROT_READ | PROT_WRITE, MAP_SHARED, port->device_fd, (off_t)bar0->offset);
    if (p == MAP_FAILED) {
        int err = errno;
        return pmd_fail(err, "mmap BAR0 of %s: %s", port->address, strerror(err));
    }
    port->bar0 = p;
    port->bar0_size = bar0->size;
    return 0;
}

int pmd_vfio_map(struct pmd_port *port, uint64_t iova, void *virt, uint64_t size)
{
    struct vfio_iommu_type1_dma_map map = {
        .argsz = sizeof map,
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (uintptr_t)virt,
        .iova = iova,
        .size = size,
    };
    if (ioctl(port->container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_IOMMU_MAP_DMA iova 0x%llx size 0x%llx: %s%s", (unsigned long long)iova,
                        (unsigned long long)size, strerror(err),
                        err == EEXIST ? " (overlaps an existing mapping)" : "");
    }
    return 0;
}

int pmd_vfio_unmap(struct pmd_port *port, uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap unmap = {.argsz = sizeof unmap, .iova = iova, .size = size};
    if (ioctl(port->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx size 0x%llx: %s", (unsigned long long)iova,
                        (unsigned long long)size, strerror(err));
    }
    if (unmap.size != size)
        return pmd_fail(ENOENT, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx: unmapped %llu of %llu bytes (no such mapping?)",
                        (unsigned long long)iova, (unsigned long long)unmap.size, (unsigned long long)size);
    return 0;
}

int pmd_vfio_reset(struct pmd_port *port)
{
    if (ioctl(port->device_fd, VFIO_DEVICE_RESET) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_DEVICE_RESET on %s: %s", port->address, strerror(err));
    }
    return 0;
}

void pmd_vfio_close(struct pmd_port *port)
{
    if (port->bar0)
        munmap((void *)port->bar0, port->bar0_size);
    port->bar0 = NULL;
    if (port->device_fd >= 0)
        close(port->device_fd);
    if (port->group_fd >= 0) {
        ioctl(port->group_fd, VFIO_GROUP_UNSET_CONTAINER); /* best effort */
        close(port->group_fd);
    }
    if (port->container_fd >= 0)
        close(port->container_fd);
    port->device_fd = port->group_fd = port->container_fd = -1;
}

/* Config space: VFIO config region or the UIO sysfs config file. */
int pmd_config_read(struct pmd_port *port, uint32_t off, void *buf, uint32_t len)
{
    int fd = port->backend == PMD_BACKEND_VFIO ? port->device_fd : port->config_fd;
    off_t base = port->backend == PMD_BACKEND_VFIO ? (off_t)port->config_offset : 0;
    ssize_t n = pread(fd, buf, len, base + off);
    if (n != (ssize_t)len) {
        int err = n < 0 ? errno : EIO;
        return pmd_fail(err, "reading %u bytes of config space at 0x%x: %s", len, off, strerror(err));
    }
    return 0;
}

int pmd_config_write(struct pmd_port *port, uint32_t off, const void *buf, uint32_t len)
{
    int fd = port->backend == PMD_BACKEND_VFIO ? port->device_fd : port->config_fd;
    off_t base = port->backend == PMD_BACKEND_VFIO ? (off_t)port->config_offset : 0;
    ssize_t n = pwrite(fd, buf, len, base + off);
    if (n != (ssize_t)len) {
        int err = n < 0 ? errno : EIO;
        return pmd_fail(err, "writing %u bytes of config space at 0x%x: %s", len, off, strerror(err));
    }
    return 0;
}

/* PCI command register (0x04): bit 1 memory space, bit 2 bus master. */
int pmd_enable_bus_master(struct pmd_port *port)
{
    uint16_t cmd;
    int rc;
    if ((rc = pmd_config_read(port, 0x00, &port->vendor, 2)) < 0 ||
        (rc = pmd_config_read(port, 0x02, &port->device, 2)) < 0 ||
        (rc = pmd_config_read(port, 0x04, &cmd, 2)) < 0)
        return rc;
    cmd |= 0x0006;
    if ((rc = pmd_config_write(port, 0x04, &cmd, 2)) < 0)
        return rc;
    if ((rc = pmd_config_read(port, 0x04, &port->pci_command, 2)) < 0)
        return rc;
    if (!(port->pci_command & 0x0004))
        return pmd_fail(EIO, "bus mastering did not stick: PCI command reads 0x%04x", port->pci_command);
    return 0;
}
