/* netns.c - run the calling thread in another network namespace, so a socket
 * opened there belongs to that namespace (the kernel path crosses the wire
 * instead of the local stack). setns() on CLONE_NEWNET affects only the
 * calling thread; sockets keep their namespace after the thread leaves it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define NETNS_DIR "/run/netns" /* where `ip netns add NAME` pins a namespace */

int pmd_netns_enter(const char *name, int *saved_fd)
{
    char path[256];
    pmd_clear_error();
    *saved_fd = -1;
    if (!name || !name[0] || strlen(name) > 200)
        return pmd_fail(EINVAL, "netns name: give the name `ip netns add` used, or a path");
    if (strchr(name, '/'))
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, NETNS_DIR "/%s", name);
    int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0) {
        int err = errno;
        return pmd_fail(err, "open /proc/thread-self/ns/net: %s", strerror(err));
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        close(saved);
        return pmd_fail(err, "open %s: %s (create it with `ip netns add %s`)", path, strerror(err), name);
    }
    int rc = setns(fd, CLONE_NEWNET);
    int err = errno;
    close(fd);
    if (rc < 0) {
        close(saved);
        return pmd_fail(err, "setns %s: %s (needs CAP_SYS_ADMIN)", path, strerror(err));
    }
    *saved_fd = saved;
    return 0;
}

int pmd_netns_leave(int saved_fd)
{
    pmd_clear_error();
    if (saved_fd < 0)
        return 0;
    int rc = setns(saved_fd, CLONE_NEWNET);
    int err = errno;
    close(saved_fd);
    if (rc < 0)
        return pmd_fail(err, "setns back to the original network namespace: %s", strerror(err));
    return 0;
}
