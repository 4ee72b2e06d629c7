"""PCI layer: addresses, the sysfs device model, and read-only NIC discovery.

Standard library only, Python >= 3.9: this package also runs inside the host
agent on the host's own python3.
"""
from __future__ import annotations

from nictest.pci.address import PciAddress
from nictest.pci.bars import Bar
from nictest.pci.device import PciDevice
from nictest.pci.discovery import all_devices, discover, iommu_enabled, read_device

__all__ = ["Bar", "PciAddress", "PciDevice", "all_devices", "discover", "iommu_enabled", "read_device"]
