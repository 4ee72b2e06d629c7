"""nictest.pmd: a small C poll-mode driver (VFIO / UIO backends, hugepage DMA,
one driver per NIC family found by an ID table: csrc/drivers/models.h) built
with cffi on the host, driven from Python in batches. `Device` opens any NIC
through VFIO/UIO without a driver; `Port` drives one the ID table knows.

    from nictest.pmd import Port
    with Port("0000:00:03.0", backend="vfio") as port:
        print(port.info()["mac"], port.tx(10000, 64))

Runs on the host under test (inside the agent): Python >= 3.9, cffi.
"""
from __future__ import annotations

from nictest.pmd.build import BuildResult, build, load, source_hash
from nictest.pmd.port import (
    Device,
    Port,
    drivers_text,
    hugepages,
    kernel_rx,
    kernel_tx,
    model_for,
    models,
    pingpong,
    pmd_error,
    txrx,
)

__all__ = [
    "BuildResult", "Device", "Port", "build", "drivers_text", "hugepages", "kernel_rx", "kernel_tx", "load",
    "model_for", "models", "pingpong", "pmd_error", "source_hash", "txrx",
]
