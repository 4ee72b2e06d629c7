"""User-space target drivers: spellings, sysfs names, and whether their module can load.

The sysfs driver name is what `driver` links and /sys/bus/pci/drivers/<name> use
("vfio-pci", "uio_pci_generic"); module names treat "-" and "_" alike.
"""
from __future__ import annotations

import os
import subprocess
from typing import Callable, NamedTuple, Optional

from nictest.errors import PrerequisiteMissing, RefusedError
from nictest.pci.sysfs import PathLike, read_text, read_whole, under

VFIO = "vfio-pci"
UIO = "uio_pci_generic"


class TargetDriver(NamedTuple):
    name: str  # sysfs driver name
    module: str  # what `modprobe` is given
    package_hint: str


def user_driver(iommu: bool, allow_uio: bool) -> str:
    """The user-space driver a host offers: vfio-pci with an IOMMU, else uio_pci_generic
    only when the caller opted in (it gives the NIC unrestricted DMA)."""
    if iommu:
        return VFIO
    if allow_uio:
        return UIO
    raise RefusedError("the host has no IOMMU, so vfio-pci cannot be used; pass --allow-uio to use "
                       "uio_pci_generic (the NIC then gets unrestricted DMA)")


TARGETS = {
    VFIO: TargetDriver(VFIO, "vfio-pci", "the kernel's vfio-pci module (CONFIG_VFIO_PCI)"),
    UIO: TargetDriver(UIO, "uio_pci_generic", "the kernel's uio_pci_generic module (CONFIG_UIO_PCI_GENERIC)"),
}


def module_key(name: str) -> str:
    """Module names compare with "-" and "_" alike: vfio-pci == vfio_pci."""
    return name.replace("-", "_")


def normalise(driver: str) -> TargetDriver:
    """"vfio_pci", "VFIO-PCI", "uio-pci-generic" -> the TargetDriver; RefusedError for others."""
    key = module_key((driver or "").strip().lower())
    for target in TARGETS.values():
        if module_key(target.name) == key:
            return target
    raise RefusedError(
        f"unknown target driver {driver!r}: nictest binds NICs to {' or '.join(TARGETS)} only; "
        "to go back to the kernel driver use `nictest restore`"
    )


def kernel_release(root: PathLike) -> str:
    """`uname -r` of the host behind `root` (procfs under root, else this machine's)."""
    return read_text(under(root, "proc/sys/kernel/osrelease")) or os.uname().release


def _module_paths(text: Optional[str], with_colon: bool) -> set:
    """Module keys named by modules.builtin (one path per line) or modules.dep ("path: deps")."""
    found = set()
    for line in (text or "").splitlines():
        path = line.split(":", 1)[0].strip() if with_colon else line.strip()
        if not path:
            continue
        base = os.path.basename(path)
        name = base.split(".ko", 1)[0]
        found.add(module_key(name))
    return found


def driver_loaded(root: PathLike, target: TargetDriver) -> bool:
    return os.path.isdir(under(root, "sys/bus/pci/drivers", target.name))


def module_builtin(root: PathLike, target: TargetDriver) -> bool:
    text = read_whole(under(root, "lib/modules", kernel_release(root), "modules.builtin"))
    return module_key(target.module) in _module_paths(text, with_colon=False)


def module_available(root: PathLike, target: TargetDriver) -> bool:
    text = read_whole(under(root, "lib/modules", kernel_release(root), "modules.dep"))
    return module_key(target.module) in _module_paths(text, with_colon=True)


def modprobe_dry_run(module: str) -> bool:
    """`modprobe -n <module>` succeeds (argv, no shell)."""
    try:
        return subprocess.run(["modprobe", "-n", module], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def module_state(root: PathLike, target: TargetDriver,
                 dry_run: Optional[Callable[[str], bool]] = None) -> str:
    """"loaded", "builtin" or "loadable"; PrerequisiteMissing names the fix otherwise."""
    if driver_loaded(root, target):
        return "loaded"
    if module_builtin(root, target):
        return "builtin"
    if module_available(root, target) or (dry_run is not None and dry_run(target.module)):
        return "loadable"
    release = kernel_release(root)
    raise PrerequisiteMissing(
        f"driver {target.name} is not available on this host: not loaded (no /sys/bus/pci/drivers/{target.name}), "
        f"not built in and not in /lib/modules/{release}/modules.dep; install {target.package_hint} "
        f"for kernel {release} (e.g. apt-get install linux-image-{release}) and run depmod"
    )
