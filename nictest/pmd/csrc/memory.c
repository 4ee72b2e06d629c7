/* memory.c - errors, and DMA memory from 2 MiB hugepages.
 *
 * One port owns one area of whole hugepages (MAP_HUGETLB, locked, touched so
 * every page is resident); descriptor rings and buffers are carved from it
 * with a bump allocator that never lets an allocation cross a hugepage, so a
 * buffer is physically contiguous even under UIO. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static __thread char last_error[512];

int pmd_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -(err > 0 ? err : EIO);
}

void pmd_clear_error(void) { last_error[0] = '\0'; }

int pmd_fail_undo(int rc, void (*undo)(void *), void *what)
{
    char saved[sizeof last_error];
    snprintf(saved, sizeof saved, "%s", last_error);
    undo(what); /* may record errors of its own: the first failure is the one to report */
    snprintf(last_error, sizeof last_error, "%s", saved);
    return rc;
}

const char *pmd_last_error(void) { return last_error; }

static int read_long(const char *path, long *value)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n <= 0)
        return n < 0 ? -err : -EIO;
    buf[n] = '\0';
    char *end;
    *value = strtol(buf, &end, 10);
    return end == buf ? -EIO : 0;
}

int pmd_hugepages(long *free_pages, long *total_pages)
{
    const char *dir = "/sys/kernel/mm/hugepages/hugepages-2048kB";
    char path[128];
    int rc;
    snprintf(path, sizeof path, "%s/free_hugepages", dir);
    if ((rc = read_long(path, free_pages)) < 0)
        return pmd_fail(-rc, "cannot read %s: %s (2 MiB hugepages not supported by this kernel?)",
                        path, strerror(-rc));
    snprintf(path, sizeof path, "%s/nr_hugepages", dir);
    if ((rc = read_long(path, total_pages)) < 0)
        return pmd_fail(-rc, "cannot read %s: %s", path, strerror(-rc));
    return 0;
}

int pmd_dma_create(struct pmd_dma *dma, uint64_t size)
{
    long free_pages = 0, total = 0;
    int rc;
    memset(dma, 0, sizeof *dma);
    size = (size + PMD_HUGE - 1) & ~(PMD_HUGE - 1);
    if ((rc = pmd_hugepages(&free_pages, &total)) < 0)
        return rc;
    if ((uint64_t)free_pages * PMD_HUGE < size)
        return pmd_fail(ENOMEM,
                        "need %llu free 2 MiB hugepages, %ld of %ld are free: reserve more with "
                        "'echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages' or boot with hugepages=N",
                        (unsigned long long)(size / PMD_HUGE), free_pages, total);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        return pmd_fail(err, "mmap of %llu bytes with MAP_HUGETLB failed: %s (free hugepages: %ld)",
                        (unsigned long long)size, strerror(err), free_pages);
    }
    if (mlock(p, size) < 0) {
        int err = errno;
        munmap(p, size);
        return pmd_fail(err, "mlock of the DMA memory failed: %s (RLIMIT_MEMLOCK? run as root)", strerror(err));
    }
    memset(p, 0, size); /* fault every page in before the device sees it */
    dma->virt = p;
    dma->size = size;
    return 0;
}

void pmd_dma_destroy(struct pmd_dma *dma)
{
    if (dma->virt) {
        munlock(dma->virt, dma->size);
        munmap(dma->virt, dma->size);
    }
    free(dma->phys);
    memset(dma, 0, sizeof *dma);
}

int pmd_dma_take(struct pmd_dma *dma, uint64_t size, uint64_t align, void **virt, uint64_t *offset)
{
    if (size == 0 || size > PMD_HUGE || align == 0 || (align & (align - 1)))
        return pmd_fail(EINVAL, "DMA allocation of %llu bytes (align %llu): size must be 1..2 MiB, align a power of two",
                        (unsigned long long)size, (unsigned long long)align);
    uint64_t off = (dma->used + align - 1) & ~(align - 1);
    if (off / PMD_HUGE != (off + size - 1) / PMD_HUGE) /* would cross a hugepage */
        off = (off + PMD_HUGE - 1) & ~(PMD_HUGE - 1);
    if (off + size > dma->size)
        return pmd_fail(ENOMEM, "port DMA memory exhausted: %llu of %llu bytes used, %llu more wanted",
                        (unsigned long long)dma->used, (unsigned long long)dma->size,
                        (unsigned long long)size);
    dma->used = off + size;
    *virt = dma->virt + off;
    if (offset)
        *offset = off;
    return 0;
}

uint64_t pmd_dma_bus(const struct pmd_dma *dma, const void *virt)
{
    uint64_t off = (uint64_t)((const uint8_t *)virt - dma->virt);
    if (dma->phys)
        return dma->phys[off / PMD_HUGE] + off % PMD_HUGE;
    return dma->iova + off;
}

/* /proc/self/pagemap: 64-bit entry per 4 KiB page; bit 63 present, bits 0-54 PFN.
 * Without CAP_SYS_ADMIN the kernel reports PFN 0 (since 4.0). */
int pmd_dma_resolve_phys(struct pmd_dma *dma)
{
    long pagesize = sysconf(_SC_PAGESIZE);
    uint64_t pages = dma->size / PMD_HUGE;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return pmd_fail(err, "cannot open /proc/self/pagemap: %s", strerror(err));
    }
    dma->phys = calloc(pages, sizeof *dma->phys);
    if (!dma->phys) {
        close(fd);
        return pmd_fail(ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < pages; i++) {
        uintptr_t va = (uintptr_t)(dma->virt + i * PMD_HUGE);
        uint64_t entry = 0;
        if (pread(fd, &entry, sizeof entry, (off_t)(va / pagesize) * 8) != sizeof entry) {
            int err = errno ? errno : EIO;
            close(fd);
            return pmd_fail(err, "reading /proc/self/pagemap failed: %s", strerror(err));
        }
        uint64_t pfn = entry & ((1ull << 55) - 1);
        if (!(entry & (1ull << 63))) {
            close(fd);
            return pmd_fail(EFAULT, "hugepage %llu of the DMA memory is not present in /proc/self/pagemap",
                            (unsigned long long)i);
        }
        if (pfn == 0) {
            close(fd);
            return pmd_fail(EPERM, "/proc/self/pagemap reports PFN 0: physical addresses are hidden without "
                                   "CAP_SYS_ADMIN; run the agent as root for UIO");
        }
        dma->phys[i] = pfn * (uint64_t)pagesize;
    }
    close(fd);
    return 0;
}
