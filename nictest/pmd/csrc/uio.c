/* uio.c - the UIO backend (uio_pci_generic): BAR0 through sysfs resource0,
 * bus mastering through sysfs config, physical addresses from pagemap
 * (memory.c). No IOMMU protects anything here: the device can reach all RAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int pmd_uio_open(struct pmd_port *port)
{
    char path[128];
    struct stat st;

    port->api_version = -1;
    port->group = -1;
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", port->address);
    port->config_fd = open(path, O_RDWR | O_CLOEXEC);
    if (port->config_fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s (no such device, or not root)", path, strerror(err));
    }
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource0", port->address);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return pmd_fail(err, "open %s: %s", path, strerror(err));
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        int err = errno ? errno : EIO;
        close(fd);
        return pmd_fail(err, "%s: cannot tell the BAR0 size", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return pmd_fail(err, "mmap %s: %s (memory BAR? kernel lockdown?)", path, strerror(err));
    port->bar0 = p;
    port->bar0_size = (uint64_t)st.st_size;
    port->num_regions = 1;
    port->regions[0] = (struct pmd_region_info){0, 0x7, port->bar0_size, 0};
    return 0;
}

void pmd_uio_close(struct pmd_port *port)
{
    if (port->bar0)
        munmap((void *)port->bar0, port->bar0_size);
    port->bar0 = NULL;
    if (port->config_fd >= 0)
        close(port->config_fd);
    port->config_fd = -1;
}
