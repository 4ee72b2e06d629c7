"""VFIO conformance: what the kernel's VFIO and the NIC promise a user-space driver.

Runs per (host, NIC) with the NIC bound to vfio-pci; hosts without an IOMMU skip.
"""
from __future__ import annotations

import allure
import pytest

from fixtures.port_checks import check_config_space, check_mac_from_registers

pytestmark = [pytest.mark.lab, pytest.mark.vfio, pytest.mark.destructive]

VFIO_API_VERSION = 0                 # linux/vfio.h VFIO_API_VERSION
REGION_READ, REGION_WRITE, REGION_MMAP = 1, 2, 4
CONFIG_REGION, BAR0 = 7, 0


def _bar0(before: dict) -> dict:
    bars = [b for b in before.get("bars", []) if b["index"] == 0]
    assert bars, f"{before['address']}: sysfs reported no BAR0 before binding"
    return bars[0]


@pytest.fixture
def vfio_facts(host, bound_nic) -> dict:
    """VFIO asked directly (container and group ioctls) before the PMD opens the group."""
    group = int(bound_nic.bind["iommu_group"])
    with allure.step(f"VFIO ioctls on /dev/vfio/vfio and /dev/vfio/{group}"):
        return host.call("vfio_probe", group=group)


def test_api_version_and_type1_and_group_viable(vfio_facts, bound_nic):
    assert vfio_facts["api_version"] == VFIO_API_VERSION
    assert vfio_facts["type1"] == 1, "the VFIO container does not offer the TYPE1 IOMMU"
    assert vfio_facts["viable"], (f"IOMMU group {vfio_facts['group']} is not viable: every device in it "
                                  f"must be bound to vfio-pci or have no driver")
    assert bound_nic.bind["device_node"] == f"/dev/vfio/{vfio_facts['group']}"


def test_port_opens_through_the_group(pmd_port):
    info = pmd_port.info
    assert info["backend"] == "vfio"
    assert info["vfio_api_version"] == VFIO_API_VERSION
    assert info["iommu_group"] == int(pmd_port.bind["iommu_group"]) == pmd_port.before["iommu_group"]


def test_regions_and_irqs(pmd_port):
    info = pmd_port.info
    regions = {r["index"]: r for r in info["regions"]}
    assert CONFIG_REGION in regions, f"no config region among {sorted(regions)}"
    assert regions[CONFIG_REGION]["size"] >= 256
    assert regions[CONFIG_REGION]["flags"] & (REGION_READ | REGION_WRITE) == REGION_READ | REGION_WRITE
    bar0 = regions.get(BAR0)
    assert bar0 and bar0["size"] > 0, "BAR0 region missing or empty"
    assert bar0["flags"] & (REGION_READ | REGION_WRITE | REGION_MMAP) == REGION_READ | REGION_WRITE | REGION_MMAP
    irqs = {q["name"]: q for q in info["irqs"]}
    assert "INTX" in irqs, f"no INTx IRQ index among {sorted(irqs)}"
    assert any(q["count"] >= 1 for q in info["irqs"]), info["irqs"]
    # Every BAR sysfs reported is a VFIO region of the same size.
    for bar in pmd_port.before["bars"]:
        if bar["index"] < 6:
            assert regions[bar["index"]]["size"] == bar["size"], f"BAR{bar['index']}"


def test_bar0_mapped_with_the_size_sysfs_reports(pmd_port):
    sysfs_bar0 = _bar0(pmd_port.before)
    assert pmd_port.info["bar_size"] == sysfs_bar0["size"]
    # Mapped: registers read through the mapping make sense (the status register is also in `registers`).
    regs = pmd_port.info["registers"]
    assert regs["status"] == pmd_port.info["status"]


def test_config_space_read_through_vfio(pmd_port):
    check_config_space(pmd_port)


def test_mac_from_registers_is_the_kernel_drivers_mac(pmd_port):
    check_mac_from_registers(pmd_port)
