"""nictest.pmd: a small C poll-mode driver (VFIO / UIO, hugepage DMA, legacy
e1000e rings) built with cffi on the host, driven from Python in batches.

    from nictest.pmd import Port
    with Port("0000:00:03.0", backend="vfio") as port:
        print(port.info()["mac"], port.tx(10000, 64))

Runs on the host under test (inside the agent): Python >= 3.9, cffi.
"""
from __future__ import annotations

from nictest.pmd.build import BuildResult, build, load, source_hash
from nictest.pmd.port import (
    Port,
    hugepages,
    kernel_rx,
    kernel_tx,
    pingpong,
    pmd_error,
    txrx,
)

__all__ = [
    "BuildResult", "Port", "build", "hugepages", "kernel_rx", "kernel_tx", "load",
    "pingpong", "pmd_error", "source_hash", "txrx",
]
