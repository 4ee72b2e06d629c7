"""The kernel state of one PCI device as bind/restore check it (read-only)."""
from __future__ import annotations

import os
from typing import Optional

from nictest.binding.drivers import UIO, VFIO
from nictest.binding.netstate import device_netdevs
from nictest.pci.sysfs import PathLike, link_name, list_dir, read_text, under

DEVICES = "sys/bus/pci/devices"


def exists(root: PathLike, address: str) -> bool:
    """False once the device was removed (hot-unplug, `remove`)."""
    return os.path.isdir(under(root, DEVICES, address))


def driver(root: PathLike, address: str) -> Optional[str]:
    return link_name(under(root, DEVICES, address, "driver"))


def override(root: PathLike, address: str) -> Optional[str]:
    text = read_text(under(root, DEVICES, address, "driver_override"))
    return None if not text or text == "(null)" else text


def netdevs(root: PathLike, address: str) -> list:
    return device_netdevs(root, address)


def netdev_now(root: PathLike, address: str, saved_name: str) -> Optional[str]:
    """The device's netdev now: the saved name if it has it, else its first one (None: none)."""
    names = netdevs(root, address)
    return saved_name if saved_name in names else (names[0] if names else None)


def iommu_group(root: PathLike, address: str) -> Optional[str]:
    return link_name(under(root, DEVICES, address, "iommu_group"))


def device_node(root: PathLike, address: str, target: str) -> Optional[str]:
    """/dev/vfio/<group> (or noiommu-<group>) or /dev/uioN if it exists, else None."""
    if target == VFIO:
        group = iommu_group(root, address)
        if group is None:
            return None
        for name in (group, f"noiommu-{group}"):
            if os.path.exists(under(root, "dev/vfio", name)):
                return f"/dev/vfio/{name}"
        return None
    if target == UIO:
        for name in list_dir(under(root, DEVICES, address, "uio")):
            if os.path.exists(under(root, "dev", name)):
                return f"/dev/{name}"
    return None


def describe(root: PathLike, address: str) -> str:
    """e.g. "driver e1000e, driver_override (null), netdevs enp0s3"."""
    names = netdevs(root, address)
    return (f"driver {driver(root, address) or 'none'}, driver_override {override(root, address) or '(null)'}, "
            f"netdevs {', '.join(names) if names else 'none'}")
