"""UIO conformance: the promises of test_vfio, through uio_pci_generic (needs --allow-uio:
the NIC gets unrestricted DMA), plus physical addresses resolved for every DMA buffer.
The device checks open the NIC with no driver (any model); the register and DMA
checks need a PMD driver for the model and skip naming the model otherwise.
"""
from __future__ import annotations

import json

import allure
import pytest

from fixtures.port_checks import check_bar_mapped, check_bus_mastering, check_config_space, check_mac_from_registers

pytestmark = [pytest.mark.lab, pytest.mark.uio, pytest.mark.destructive]

HUGEPAGE = 2 << 20


def test_bound_to_a_uio_device_node(bound_nic):
    node = bound_nic.bind.get("device_node") or ""
    assert node.startswith("/dev/uio"), f"no /dev/uioN for {bound_nic.address}: {bound_nic.bind}"


def test_uio_irq_is_the_devices_interrupt_pin(pmd_device):
    """uio_pci_generic offers the legacy INTx only: the backend reports it exactly when config
    space (read by the agent's walker, not the PMD) gives the function an interrupt pin."""
    pin = pmd_device.host.call("pci_config", address=pmd_device.address)["interrupt_pin"]
    irqs = [(q["index"], bool(q["present"]), q["count"]) for q in pmd_device.info["irqs"]]
    assert irqs == [(0, bool(pin), 1 if pin else 0)], f"interrupt pin {pin}, UIO IRQs {pmd_device.info['irqs']}"


def test_bar_mapped_with_the_size_sysfs_reports(pmd_device):
    check_bar_mapped(pmd_device)


def test_config_space_read_through_sysfs(pmd_device):
    check_config_space(pmd_device)


def test_bus_mastering_is_on_in_the_device(pmd_port):
    check_bus_mastering(pmd_port)


def test_mac_from_registers_is_the_kernel_drivers_mac(pmd_port):
    check_mac_from_registers(pmd_port)


def test_physical_addresses_resolved_for_every_dma_buffer(pmd_port):
    """Under UIO the device gets physical addresses: for each buffer, the bus address the PMD
    hands the device must be what /proc/self/pagemap says (read independently in Python)."""
    info = pmd_port.info
    assert info["dma_bus_base"], "the DMA memory has no physical address"
    assert info["dma_bus_base"] % HUGEPAGE == 0, f"DMA base {info['dma_bus_base']:#x} is not a 2 MiB hugepage"
    buffers = pmd_port.call("pmd_dma_buffers", count=16, size=2048)
    allure.attach(json.dumps(buffers, indent=1), "dma buffers", allure.attachment_type.JSON)
    hidden = [b for b in buffers if not b["phys"]]
    if hidden:
        pytest.skip("/proc/self/pagemap shows PFN 0: physical addresses need root / CAP_SYS_ADMIN "
                    "(run the agent as root)")
    for buf in buffers:
        assert buf["bus"] == buf["phys"], (f"buffer at offset {buf['offset']:#x}: the device would DMA to "
                                           f"{buf['bus']:#x} but the page is at {buf['phys']:#x}")
    for ring in ("rx_ring_bus", "tx_ring_bus"):
        assert info[ring], f"{ring} has no physical address"
