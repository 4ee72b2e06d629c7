/* vfio.c - the VFIO type1 backend (struct pmd_backend_ops pmd_vfio_backend).
 *
 * container (/dev/vfio/vfio) -> group (/dev/vfio/N, must be viable) ->
 * SET_CONTAINER -> SET_IOMMU(TYPE1) -> device fd; region and IRQ info (an
 * IRQ index the device lacks is recorded, not fatal); BAR mmap; config space
 * through the config region; DMA mapped at IOVAs the port chooses. */
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

static int vfio_open(struct pmd_device *dev)
{
    char path[64];
    int rc;

    if ((rc = iommu_group_of(dev->address, &dev->group)) < 0)
        return rc;
    dev->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (dev->container_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open /dev/vfio/vfio: %s (modprobe vfio-pci; run as root)", strerror(err));
    }
    dev->api_version = ioctl(dev->container_fd, VFIO_GET_API_VERSION);
    if (dev->api_version != VFIO_API_VERSION)
        return pmd_fail(EINVAL, "VFIO API version %d, this driver knows %d", dev->api_version, VFIO_API_VERSION);
    if (ioctl(dev->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) != 1)
        return pmd_fail(ENOTSUP, "the VFIO container does not support the TYPE1 IOMMU");

    snprintf(path, sizeof path, "/dev/vfio/%d", dev->group);
    dev->group_fd = open(path, O_RDWR | O_CLOEXEC);
    if (dev->group_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s (is %s bound to vfio-pci? is the group held by another process?)",
                        path, strerror(err), dev->address);
    }
    struct vfio_group_status gs = {.argsz = sizeof gs};
    if (ioctl(dev->group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_GROUP_GET_STATUS on %s: %s", path, strerror(err));
    }
    if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
        return pmd_fail(EBUSY, "IOMMU group %d is not viable: every device in it must be bound to vfio-pci "
                               "(or have no driver)", dev->group);
    if (ioctl(dev->group_fd, VFIO_GROUP_SET_CONTAINER, &dev->container_fd) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_GROUP_SET_CONTAINER for group %d: %s", dev->group, strerror(err));
    }
    if (ioctl(dev->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_SET_IOMMU(TYPE1): %s%s", strerror(err),
                        err == EPERM ? " (no interrupt remapping? see dmesg: allow_unsafe_interrupts)" : "");
    }
    /* A VF of a PF on vfio-pci is named with the PF's VF token (vf_token.c). */
    char name[sizeof dev->address + sizeof dev->vf_token + 16];
    if (dev->vf_token[0])
        snprintf(name, sizeof name, "%s vf_token=%s", dev->address, dev->vf_token);
    else
        snprintf(name, sizeof name, "%s", dev->address);
    dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, name);
    if (dev->device_fd < 0) {
        int err = errno;
        dev->device_fd = -1;
        const char *why = "";
        if (err == EACCES)
            why = dev->vf_token[0] ? " (the VF token is not its PF's)"
                                   : " (its PF is on vfio-pci: open it with the PF's VF token)";
        else if (err == EINVAL && dev->vf_token[0])
            why = " (a VF token was given but its PF is not on vfio-pci, or it is not a VF/PF)";
        return pmd_fail(err, "VFIO_GROUP_GET_DEVICE_FD %s%s: %s%s", dev->address,
                        dev->vf_token[0] ? " with a VF token" : "", strerror(err), why);
    }

    struct vfio_device_info di = {.argsz = sizeof di};
    if (ioctl(dev->device_fd, VFIO_DEVICE_GET_INFO, &di) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_DEVICE_GET_INFO: %s", strerror(err));
    }
    dev->device_flags = di.flags;
    dev->num_regions = di.num_regions < PMD_MAX_REGIONS ? di.num_regions : PMD_MAX_REGIONS;
    dev->num_irqs = di.num_irqs < PMD_MAX_IRQS ? di.num_irqs : PMD_MAX_IRQS;
    for (uint32_t i = 0; i < dev->num_regions; i++) {
        struct vfio_region_info ri = {.argsz = sizeof ri, .index = i};
        dev->regions[i].index = i;
        if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) {
            int err = errno;
            if (err == EINVAL) /* e.g. VGA region absent: recorded as size 0 */
                continue;
            return pmd_fail(err, "VFIO_DEVICE_GET_REGION_INFO %u: %s", i, strerror(err));
        }
        dev->regions[i] = (struct pmd_region_info){ri.index, ri.flags, ri.size, ri.offset};
    }
    if (dev->num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
        return pmd_fail(ENODEV, "%s: VFIO reports only %u regions, no config region", dev->address,
                        dev->num_regions);
    dev->config_offset = dev->regions[VFIO_PCI_CONFIG_REGION_INDEX].offset;
    return 0;
}

/* VFIO lists every index of its PCI ABI (INTx, MSI, MSI-X, ERR, REQ); ERR and
 * REQ exist only on PCIe functions and answer EINVAL elsewhere. */
static int vfio_irq_info(struct pmd_device *dev)
{
    for (uint32_t i = 0; i < dev->num_irqs; i++) {
        struct vfio_irq_info ii = {.argsz = sizeof ii, .index = i};
        dev->irqs[i] = (struct pmd_irq_info){i, 0, 0, 0};
        if (ioctl(dev->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) {
            int err = errno;
            if (err == EINVAL)
                continue;
            return pmd_fail(err, "VFIO_DEVICE_GET_IRQ_INFO %u: %s", i, strerror(err));
        }
        dev->irqs[i] = (struct pmd_irq_info){ii.index, ii.flags, ii.count, 1};
    }
    return 0;
}

static int vfio_map_bar(struct pmd_device *dev, uint32_t index, void **virt, uint64_t *size)
{
    const struct pmd_region_info *r = &dev->regions[index];
    void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd, (off_t)r->offset);
    if (p == MAP_FAILED) {
        int err = errno;
        return pmd_fail(err, "mmap BAR%u of %s: %s", index, dev->address, strerror(err));
    }
    *virt = p;
    *size = r->size;
    return 0;
}

static void vfio_unmap_bar(struct pmd_device *dev, void *virt, uint64_t size)
{
    munmap(virt, size);
}

static int vfio_region_rw(struct pmd_device *dev, int write, uint64_t base, uint64_t off, void *buf,
                          uint32_t len)
{
    ssize_t n = write ? pwrite(dev->device_fd, buf, len, (off_t)(base + off))
                      : pread(dev->device_fd, buf, len, (off_t)(base + off));
    if (n != (ssize_t)len) {
        int err = n < 0 ? errno : EIO;
        return pmd_fail(err, "%s %u bytes at 0x%llx of a VFIO region of %s: %s", write ? "writing" : "reading",
                        len, (unsigned long long)off, dev->address, strerror(err));
    }
    return 0;
}

static int vfio_config_read(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len)
{
    return vfio_region_rw(dev, 0, dev->config_offset, off, buf, len);
}

static int vfio_config_write(struct pmd_device *dev, uint32_t off, const void *buf, uint32_t len)
{
    return vfio_region_rw(dev, 1, dev->config_offset, off, (void *)buf, len);
}

static int vfio_region_read(struct pmd_device *dev, uint32_t index, uint64_t off, void *buf, uint32_t len)
{
    return vfio_region_rw(dev, 0, dev->regions[index].offset, off, buf, len);
}

static int vfio_map(struct pmd_device *dev, uint64_t iova, void *virt, uint64_t size)
{
    struct vfio_iommu_type1_dma_map map = {
        .argsz = sizeof map,
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (uintptr_t)virt,
        .iova = iova,
        .size = size,
    };
    if (ioctl(dev->container_fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_IOMMU_MAP_DMA iova 0x%llx size 0x%llx: %s%s", (unsigned long long)iova,
                        (unsigned long long)size, strerror(err),
                        err == EEXIST ? " (overlaps an existing mapping)" : "");
    }
    return 0;
}

static int vfio_unmap(struct pmd_device *dev, uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap unmap = {.argsz = sizeof unmap, .iova = iova, .size = size};
    if (ioctl(dev->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx size 0x%llx: %s", (unsigned long long)iova,
                        (unsigned long long)size, strerror(err));
    }
    if (unmap.size != size)
        return pmd_fail(ENOENT, "VFIO_IOMMU_UNMAP_DMA iova 0x%llx: unmapped %llu of %llu bytes (no such mapping?)",
                        (unsigned long long)iova, (unsigned long long)unmap.size, (unsigned long long)size);
    return 0;
}

static int vfio_reset(struct pmd_device *dev)
{
    if (!(dev->device_flags & VFIO_DEVICE_FLAGS_RESET))
        return pmd_fail(ENOTSUP, "%s: VFIO offers no reset for this device (no FLR, PM or bus reset)",
                        dev->address);
    if (ioctl(dev->device_fd, VFIO_DEVICE_RESET) < 0) {
        int err = errno;
        return pmd_fail(err, "VFIO_DEVICE_RESET on %s: %s", dev->address, strerror(err));
    }
    return 0;
}

static void vfio_close(struct pmd_device *dev)
{
    if (dev->device_fd >= 0)
        close(dev->device_fd);
    if (dev->group_fd >= 0) {
        ioctl(dev->group_fd, VFIO_GROUP_UNSET_CONTAINER); /* best effort */
        close(dev->group_fd);
    }
    if (dev->container_fd >= 0)
        close(dev->container_fd);
    dev->device_fd = dev->group_fd = dev->container_fd = -1;
}

const struct pmd_backend_ops pmd_vfio_backend = {
    .name = "vfio",
    .id = PMD_BACKEND_VFIO,
    .iommu = 1,
    .open = vfio_open,
    .close = vfio_close,
    .irq_info = vfio_irq_info,
    .map_bar = vfio_map_bar,
    .unmap_bar = vfio_unmap_bar,
    .config_read = vfio_config_read,
    .config_write = vfio_config_write,
    .region_read = vfio_region_read,
    .reset = vfio_reset,
    .map = vfio_map,
    .unmap = vfio_unmap,
};
