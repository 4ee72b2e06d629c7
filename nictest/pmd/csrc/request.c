/* Device removal while a port is open: VFIO's "device request" and stopping the loops.
 *
 * When the kernel removes a device bound to vfio-pci (hot-unplug, a driver
 * unbind), vfio-pci's remove waits until every user closed the device; it asks
 * them by signalling the eventfd registered on VFIO_PCI_REQ_IRQ_INDEX (again
 * every few seconds) and, when none is registered, logs "No device request
 * channel registered, blocked until released by user" and waits forever, with
 * the device lock held (so even reading the device's sysfs files blocks).
 * The owner of the port watches the eventfd, interrupts the loop running on
 * the port (another thread: the loops poll `interrupted`) and closes the port. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "internal.h"

int pmd_device_request_eventfd(struct pmd_device *dev, int eventfd)
{
    pmd_clear_error();
    if (!dev)
        return pmd_fail(ENOTCONN, "device is not open");
    if (dev->backend->id != PMD_BACKEND_VFIO)
        return pmd_fail(EOPNOTSUPP, "%s: only VFIO has a device request channel", dev->address);
    union {
        struct vfio_irq_set set;
        uint8_t bytes[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    } u;
    memset(&u, 0, sizeof u);
    u.set.argsz = sizeof u.bytes;
    u.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    u.set.index = VFIO_PCI_REQ_IRQ_INDEX;
    u.set.start = 0;
    u.set.count = 1;
    int32_t fd = eventfd;
    memcpy(u.set.data, &fd, sizeof fd);
    if (ioctl(dev->device_fd, VFIO_DEVICE_SET_IRQS, &u.set) < 0)
        return pmd_fail(errno, "%s: VFIO_DEVICE_SET_IRQS (device request, index %d): %s (not PCIe?)",
                        dev->address, VFIO_PCI_REQ_IRQ_INDEX, strerror(errno));
    return 0;
}

int pmd_port_request_eventfd(struct pmd_port *port, int eventfd)
{
    if (!port || !port->dev) {
        pmd_clear_error();
        return pmd_fail(ENOTCONN, "port is not open");
    }
    return pmd_device_request_eventfd(port->dev, eventfd);
}

void pmd_port_interrupt(struct pmd_port *port)
{
    if (port)
        port->interrupted = 1;
}

int pmd_port_check_interrupt(struct pmd_port *port)
{
    if (port->interrupted)
        return pmd_fail(ECANCELED, "%s: loop stopped: the port is being closed (device removal requested)",
                        port->dev->address);
    return 0;
}
