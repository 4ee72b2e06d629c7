"""PCI layer: addresses, the sysfs device model, and read-only NIC discovery.

Standard library only, Python >= 3.9: this package also runs inside the host
agent on the host's own python3.

The names below are imported on first use (PEP 562), so `from nictest.pci.address
import PciAddress` (the inventory, every CLI call) does not pay for discovery.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"PciAddress": "address", "Bar": "bars", "PciDevice": "device", "all_devices": "discovery",
            "discover": "discovery", "iommu_enabled": "discovery", "read_device": "discovery"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
