"""IOMMU groups: which devices share one, read from sysfs (the one place nictest computes this).

A group is the unit the IOMMU isolates: VFIO hands a group to user space whole, and
only when every member is driverless or on a driver that leaves DMA to VFIO.
PCI-to-PCI bridges often sit in their endpoints' group (a conventional PCI bus
behind a PCIe-to-PCI bridge cannot tell its devices apart); they are reported here
so callers can leave them where they are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Union

from nictest.pci.address import PciAddress
from nictest.pci.sysfs import PathLike, link_name, list_dir, read_text, under

PCI_DEVICES = "sys/bus/pci/devices"
IOMMU_GROUPS = "sys/kernel/iommu_groups"
BRIDGE_CLASS_PREFIX = "0x0604"  # PCI-to-PCI bridge (PCIe root/downstream ports, PCIe-to-PCI bridges)


@dataclass(frozen=True)
class GroupMember:
    address: str
    class_code: Optional[str]
    driver: Optional[str]

    @property
    def is_bridge(self) -> bool:
        return (self.class_code or "").startswith(BRIDGE_CLASS_PREFIX)

    def to_dict(self) -> dict:
        return {"address": self.address, "driver": self.driver, "class": self.class_code,
                "bridge": self.is_bridge}


def iommu_group_of(root: PathLike, address: Union[str, PciAddress]) -> Optional[int]:
    """The device's IOMMU group number, or None (no IOMMU, or the device is not translated)."""
    name = link_name(under(root, PCI_DEVICES, str(PciAddress.parse(address)), "iommu_group"))
    return int(name) if name is not None and name.isdigit() else None


def group_members(root: PathLike, group: Optional[int]) -> List[GroupMember]:
    """Every device of IOMMU group `group`, sorted by address ([] for None or a missing group)."""
    if group is None:
        return []
    members = []
    for name in list_dir(under(root, IOMMU_GROUPS, str(group), "devices")):
        path = under(root, PCI_DEVICES, name)
        members.append(GroupMember(name, read_text(os.path.join(path, "class")),
                                   link_name(os.path.join(path, "driver"))))
    return sorted(members, key=lambda m: PciAddress.parse(m.address))
