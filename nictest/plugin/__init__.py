"""pytest plugin (pytest11 entry point): options, markers, host fixtures, reports."""
from __future__ import annotations

MARKERS = {
    "lab": "needs a reachable lab host (fails loudly when it cannot get one)",
    "vfio": "uses the VFIO user-space driver path",
    "uio": "uses the UIO user-space driver path (unrestricted DMA: needs --allow-uio)",
    "iommu": "asserts IOMMU isolation",
    "dma": "asserts DMA into hugepage memory",
    "datapath": "sends and receives real packets",
    "destructive": "changes a NIC's driver binding",
    "restore": "asserts kernel-driver restoration",
    "perf": "records performance figures",
}


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
