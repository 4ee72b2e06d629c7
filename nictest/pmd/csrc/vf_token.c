/* vf_token.c - the SR-IOV VF token of VFIO (Linux 5.7+).
 *
 * A PF bound to vfio-pci (with the module's enable_sriov) shares a secret with
 * the users of its VFs: the PF's user sets a UUID with VFIO_DEVICE_FEATURE
 * (SET | PCI_VF_TOKEN) on the PF's device fd, and a VF is opened only with
 * VFIO_GROUP_GET_DEVICE_FD "<address> vf_token=<uuid>" naming that UUID: no
 * token or another one is -EACCES (vfio_pci_core.c vfio_pci_validate_vf_token).
 * vfio.c builds the device name; this file parses the UUID and sets it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "internal.h"

#define UUID_TEXT_LEN 36                 /* 8-4-4-4-12 hex digits */
#define UUID_LEN 16

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The kernel parses the token with uuid_parse(): exactly 8-4-4-4-12 hex digits. */
int pmd_vf_token_parse(const char *text, uint8_t uuid[UUID_LEN])
{
    static const int dashes[] = {8, 13, 18, 23};
    if (!text || strlen(text) != UUID_TEXT_LEN)
        goto bad;
    for (int i = 0, d = 0, byte = 0; i < UUID_TEXT_LEN; i++) {
        if (d < 4 && i == dashes[d]) {
            if (text[i] != '-')
                goto bad;
            d++;
            continue;
        }
        int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0 || (d < 4 && i + 1 == dashes[d]))
            goto bad;
        uuid[byte++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
bad:
    return pmd_fail(EINVAL, "VF token %.40s%s: must be a UUID, 8-4-4-4-12 hex digits "
                            "(e.g. from uuidgen)", text ? text : "(none)", text && strlen(text) > 40 ? "..." : "");
}

int pmd_device_set_vf_token(struct pmd_device *dev, const char *token)
{
    /* the header, then its data[]: the 16 bytes of the UUID */
    uint32_t buf[(sizeof(struct vfio_device_feature) + UUID_LEN) / sizeof(uint32_t)] = {0};
    struct vfio_device_feature *feature = (struct vfio_device_feature *)buf;
    int rc;
    pmd_clear_error();
    feature->argsz = sizeof buf;
    feature->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
    if (dev->backend->id != PMD_BACKEND_VFIO)
        return pmd_fail(ENOTSUP, "%s: the VF token is VFIO's; open the PF with backend vfio", dev->address);
    if ((rc = pmd_vf_token_parse(token, feature->data)) < 0)
        return rc;
    if (ioctl(dev->device_fd, VFIO_DEVICE_FEATURE, feature) < 0) {
        int err = errno;
        /* ENOTTY: vfio-pci keeps a token only for an SR-IOV PF (and only since Linux 5.7) */
        return pmd_fail(err, "VFIO_DEVICE_FEATURE SET PCI_VF_TOKEN on %s: %s%s", dev->address, strerror(err),
                        err == ENOTTY ? " (only an SR-IOV PF on vfio-pci has a VF token, Linux 5.7+)" : "");
    }
    return 0;
}
