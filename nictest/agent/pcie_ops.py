"""Agent op `pci_health`: one function's PCIe health snapshot (nictest.pci.health): the
capability lists walked, negotiated link, payload / read request sizes, Device Status
error bits and the AER snapshot. Read-only."""
from __future__ import annotations

from nictest.agent.ops import op


@op("pci_health", address=str)
def pci_health(agent, address) -> dict:
    from nictest.pci import health

    return health.snapshot("/", address)
