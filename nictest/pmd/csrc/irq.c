/* Interrupts through VFIO: eventfds on an IRQ index (VFIO_DEVICE_SET_IRQS), a
 * software trigger, and the driver's part (which causes go to which vector,
 * masking on the device side).
 *
 * VFIO_DEVICE_SET_IRQS with DATA_EVENTFD | ACTION_TRIGGER on an index (INTx 0,
 * MSI 1, MSI-X 2) enables that interrupt mode and makes the kernel signal
 * eventfd i when vector start+i fires; DATA_NONE | ACTION_TRIGGER on one vector
 * signals it from software (what the kernel's vfio selftests use to check the
 * path without the device); DATA_NONE | ACTION_TRIGGER with count 0 tears the
 * index down. The owner of the eventfds reads their counters.
 *
 * INTx (a conventional PCI function's interrupt pin; VFIO's INTx index has count 1
 * when the function has a pin) is level-triggered: VFIO masks the line when it
 * signals the eventfd (VFIO_IRQ_INFO_AUTOMASKED) and leaves it masked until user
 * space, having read and cleared the device's causes, unmasks it (DATA_NONE |
 * ACTION_UNMASK); a line still asserted then is signalled again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "internal.h"

static int require_vfio(struct pmd_port *port, const char *what)
{
    pmd_clear_error();
    if (!port || !port->dev)
        return pmd_fail(ENOTCONN, "port is not open");
    if (port->dev->backend->id != PMD_BACKEND_VFIO)
        return pmd_fail(EOPNOTSUPP, "%s: %s: only VFIO delivers interrupts to user space eventfds here",
                        port->dev->address, what);
    return 0;
}

static int irq_count(struct pmd_port *port, uint32_t index)
{
    for (uint32_t i = 0; i < port->dev->num_irqs && i < PMD_MAX_IRQS; i++)
        if (port->dev->irqs[i].index == index && port->dev->irqs[i].present)
            return (int)port->dev->irqs[i].count;
    return 0;
}

int pmd_port_irq_eventfds(struct pmd_port *port, uint32_t index, const int32_t *fds, uint32_t count)
{
    int rc = require_vfio(port, "set IRQ eventfds");
    if (rc < 0)
        return rc;
    int have = irq_count(port, index);
    if (count == 0 || (int)count > have)
        return pmd_fail(EINVAL, "%s: IRQ index %u offers %d vectors, asked for %u", port->dev->address, index,
                        have, count);
    size_t size = sizeof(struct vfio_irq_set) + sizeof(int32_t) * count;
    struct vfio_irq_set *set = calloc(1, size);
    if (!set)
        return pmd_fail(ENOMEM, "out of memory");
    set->argsz = (uint32_t)size;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = index;
    set->start = 0;
    set->count = count;
    memcpy(set->data, fds, sizeof(int32_t) * count);
    rc = ioctl(port->dev->device_fd, VFIO_DEVICE_SET_IRQS, set);
    int err = errno;
    free(set);
    if (rc < 0)
        return pmd_fail(err, "%s: VFIO_DEVICE_SET_IRQS (eventfds, index %u, %u vectors): %s", port->dev->address,
                        index, count, strerror(err));
    return 0;
}

int pmd_port_irq_disable(struct pmd_port *port, uint32_t index)
{
    int rc = require_vfio(port, "disable IRQs");
    if (rc < 0)
        return rc;
    if (port->ops->irq_disable)
        port->ops->irq_disable(port);
    struct vfio_irq_set set = {
        .argsz = sizeof set, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = index, .start = 0, .count = 0,
    };
    if (ioctl(port->dev->device_fd, VFIO_DEVICE_SET_IRQS, &set) < 0)
        return pmd_fail(errno, "%s: VFIO_DEVICE_SET_IRQS (disable index %u): %s", port->dev->address, index,
                        strerror(errno));
    return 0;
}

int pmd_port_irq_trigger(struct pmd_port *port, uint32_t index, uint32_t vector)
{
    int rc = require_vfio(port, "trigger an IRQ");
    if (rc < 0)
        return rc;
    struct vfio_irq_set set = {
        .argsz = sizeof set, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = index, .start = vector, .count = 1,
    };
    if (ioctl(port->dev->device_fd, VFIO_DEVICE_SET_IRQS, &set) < 0)
        return pmd_fail(errno, "%s: VFIO_DEVICE_SET_IRQS (software trigger, index %u vector %u): %s",
                        port->dev->address, index, vector, strerror(errno));
    return 0;
}

int pmd_port_irq_unmask(struct pmd_port *port, uint32_t index, uint32_t vector)
{
    int rc = require_vfio(port, "unmask an IRQ");
    if (rc < 0)
        return rc;
    struct vfio_irq_set set = {
        .argsz = sizeof set, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
        .index = index, .start = vector, .count = 1,
    };
    if (ioctl(port->dev->device_fd, VFIO_DEVICE_SET_IRQS, &set) < 0)
        return pmd_fail(errno, "%s: VFIO_DEVICE_SET_IRQS (unmask, index %u vector %u): %s", port->dev->address,
                        index, vector, strerror(errno));
    return 0;
}

static int driver_op(struct pmd_port *port, const char *what)
{
    pmd_clear_error();
    if (!port || !port->dev)
        return pmd_fail(ENOTCONN, "port is not open");
    if (!port->ops->irq_enable)
        return pmd_fail(EOPNOTSUPP, "%s: the %s driver does not raise interrupts (%s)", port->dev->address,
                        port->ops->name, what);
    return 0;
}

int pmd_port_irq_enable(struct pmd_port *port, uint32_t rx_vector, uint32_t other_vector)
{
    int rc = driver_op(port, "enable");
    return rc < 0 ? rc : port->ops->irq_enable(port, rx_vector, other_vector);
}

int pmd_port_irq_mask(struct pmd_port *port, int masked)
{
    int rc = driver_op(port, "mask");
    return rc < 0 ? rc : port->ops->irq_mask(port, masked);
}

int pmd_port_irq_ack(struct pmd_port *port, uint32_t *causes)
{
    int rc = driver_op(port, "ack");
    return rc < 0 ? rc : port->ops->irq_ack(port, causes);
}
