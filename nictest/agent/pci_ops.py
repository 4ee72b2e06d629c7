"""Agent op `pci_config`: a device's config-space facts, for profiles and `nictest profile`.

Read-only discovery (nictest.pci.configspace): the walked `config` file (header,
capability list, PCIe extended list), BARs from `resource`, and the kernel's
reset_method, SR-IOV and NUMA attributes.
"""
from __future__ import annotations

from nictest.agent.ops import op
from nictest.pci.configspace import device_config


@op("pci_config", address=str)
def pci_config(agent, address) -> dict:
    return device_config("/", address)


@op("pci_aer", address=str)
def pci_aer(agent, address) -> dict:
    """AER status registers and the kernel's AER counters (nictest.pci.aer.snapshot)."""
    from nictest.pci import aer

    return aer.snapshot("/", address)
