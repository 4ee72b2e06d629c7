/* uio.c - the UIO backend (uio_pci_generic, struct pmd_backend_ops
 * pmd_uio_backend): BARs through sysfs resourceN, config space through sysfs
 * config, physical addresses from pagemap (memory.c). No IOMMU protects
 * anything here: the device can reach all RAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define IORESOURCE_IO 0x100      /* linux/ioport.h, the flags column of sysfs "resource" */
#define IORESOURCE_MEM 0x200
#define REGION_RW 0x3            /* the VFIO region flags READ | WRITE, for a uniform report */
#define REGION_MMAP 0x4
#define NUM_BARS 6

/* Region info from sysfs "resource": one "start end flags" line per BAR. */
static int uio_regions(struct pmd_device *dev)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource", dev->address);
    FILE *f = fopen(path, "re");
    if (!f) {
        int err = errno;
        return pmd_fail(err, "open %s: %s", path, strerror(err));
    }
    unsigned long long start, end, flags;
    uint32_t i = 0;
    while (i < NUM_BARS && fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3) {
        struct pmd_region_info *r = &dev->regions[i];
        *r = (struct pmd_region_info){i, 0, 0, 0};
        if (end > start && (flags & (IORESOURCE_IO | IORESOURCE_MEM))) {
            r->size = end - start + 1;
            r->flags = REGION_RW | ((flags & IORESOURCE_MEM) ? REGION_MMAP : 0);
        }
        i++;
    }
    fclose(f);
    dev->num_regions = i;
    return 0;
}

static int uio_open(struct pmd_device *dev)
{
    char path[128];
    dev->api_version = -1;
    dev->group = -1;
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", dev->address);
    dev->config_fd = open(path, O_RDWR | O_CLOEXEC);
    if (dev->config_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s (no such device, or not root)", path, strerror(err));
    }
    return uio_regions(dev);
}

static int uio_config_read(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len);

/* uio_pci_generic offers only the legacy INTx (through /dev/uioN), present
 * when the function has an interrupt pin (config 0x3D, PCI_INTERRUPT_PIN). */
static int uio_irq_info(struct pmd_device *dev)
{
    uint8_t pin = 0;
    int rc = uio_config_read(dev, 0x3D, &pin, 1);
    if (rc < 0)
        return rc;
    dev->num_irqs = 1;
    dev->irqs[0] = (struct pmd_irq_info){0, 0, pin ? 1 : 0, pin ? 1 : 0};
    return 0;
}

static int uio_map_bar(struct pmd_device *dev, uint32_t index, void **virt, uint64_t *size)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", dev->address, index);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s", path, strerror(err));
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        int err = errno ? errno : EIO;
        close(fd);
        return pmd_fail(err, "%s: cannot tell the BAR%u size", path, index);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return pmd_fail(err, "mmap %s: %s (memory BAR? kernel lockdown?)", path, strerror(err));
    *virt = p;
    *size = (uint64_t)st.st_size;
    return 0;
}

static void uio_unmap_bar(struct pmd_device *dev, void *virt, uint64_t size)
{
    munmap(virt, size);
}

static int uio_config_rw(struct pmd_device *dev, int write, uint32_t off, void *buf, uint32_t len)
{
    ssize_t n = write ? pwrite(dev->config_fd, buf, len, off) : pread(dev->config_fd, buf, len, off);
    if (n != (ssize_t)len) {
        int err = n < 0 ? errno : EIO;
        return pmd_fail(err, "%s %u bytes of config space at 0x%x: %s", write ? "writing" : "reading", len, off,
                        strerror(err));
    }
    return 0;
}

static int uio_config_read(struct pmd_device *dev, uint32_t off, void *buf, uint32_t len)
{
    return uio_config_rw(dev, 0, off, buf, len);
}

static int uio_config_write(struct pmd_device *dev, uint32_t off, const void *buf, uint32_t len)
{
    return uio_config_rw(dev, 1, off, (void *)buf, len);
}

static int uio_region_read(struct pmd_device *dev, uint32_t index, uint64_t off, void *buf, uint32_t len)
{
    return pmd_fail(ENOTSUP, "UIO reads BARs only through their mapping (sysfs resource%u has no read)", index);
}

static int uio_reset(struct pmd_device *dev)
{
    return pmd_fail(ENOTSUP, "UIO has no function reset: use the VFIO backend or the driver's own reset");
}

static int uio_map(struct pmd_device *dev, uint64_t iova, void *virt, uint64_t size)
{
    return pmd_fail(ENOTSUP, "DMA mappings need the VFIO backend (UIO has no IOMMU)");
}

static int uio_unmap(struct pmd_device *dev, uint64_t iova, uint64_t size)
{
    return pmd_fail(ENOTSUP, "DMA mappings need the VFIO backend (UIO has no IOMMU)");
}

static void uio_close(struct pmd_device *dev)
{
    if (dev->config_fd >= 0)
        close(dev->config_fd);
    dev->config_fd = -1;
}

const struct pmd_backend_ops pmd_uio_backend = {
    .name = "uio",
    .id = PMD_BACKEND_UIO,
    .iommu = 0,
    .open = uio_open,
    .close = uio_close,
    .irq_info = uio_irq_info,
    .map_bar = uio_map_bar,
    .unmap_bar = uio_unmap_bar,
    .config_read = uio_config_read,
    .config_write = uio_config_write,
    .region_read = uio_region_read,
    .reset = uio_reset,
    .map = uio_map,
    .unmap = uio_unmap,
};
