"""VFIO conformance: what the kernel's VFIO and the NIC promise a user-space driver.

Runs per (host, NIC) with the NIC bound to vfio-pci; hosts without an IOMMU skip.
The container, group, region, IRQ, config-space and BAR checks open the NIC
with no driver (`pmd_device`), so they hold for any model; the register checks
need a PMD driver for the model (`pmd_port`) and skip naming the model otherwise.
"""
from __future__ import annotations

import allure
import pytest

from fixtures.port_checks import check_bar_mapped, check_bus_mastering, check_config_space, check_mac_from_registers

pytestmark = [pytest.mark.lab, pytest.mark.vfio, pytest.mark.destructive]

VFIO_API_VERSION = 0                 # linux/vfio.h VFIO_API_VERSION
REGION_READ, REGION_WRITE, REGION_MMAP = 1, 2, 4
CONFIG_REGION = 7
VFIO_PCI_ERR_IRQ = 3                 # AER error notification: PCIe functions only


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


def test_device_opens_through_the_group(pmd_device):
    info = pmd_device.info
    assert info["vfio_api_version"] == VFIO_API_VERSION
    assert info["iommu_group"] == int(pmd_device.bind["iommu_group"]) == pmd_device.before["iommu_group"]


def test_regions_and_irqs(pmd_device):
    info = pmd_device.info
    regions = {r["index"]: r for r in info["regions"]}
    assert CONFIG_REGION in regions, f"no config region among {sorted(regions)}"
    assert regions[CONFIG_REGION]["size"] >= 256
    assert regions[CONFIG_REGION]["flags"] & (REGION_READ | REGION_WRITE) == REGION_READ | REGION_WRITE
    # Every BAR sysfs reported is a readable, writable VFIO region of the same size.
    for bar in pmd_device.before["bars"]:
        if bar["index"] < 6:
            region = regions[bar["index"]]
            assert region["size"] == bar["size"], f"BAR{bar['index']}: VFIO {region['size']}, sysfs {bar['size']}"
            assert region["flags"] & (REGION_READ | REGION_WRITE) == REGION_READ | REGION_WRITE, f"BAR{bar['index']}"
    irqs = {q["index"]: q for q in info["irqs"]}
    assert irqs and irqs[0]["name"] == "INTX" and irqs[0]["present"], f"no INTx IRQ index: {info['irqs']}"
    assert any(q["present"] and q["count"] >= 1 for q in info["irqs"]), info["irqs"]
    # An index the device lacks is recorded as absent with no vectors, never half-filled.
    for q in info["irqs"]:
        assert q["present"] or q["count"] == 0, q


PCI_STATUS_CAP_LIST, PCI_CAP_ID_EXP = 0x10, 0x10


def capability_ids(config: bytes) -> list:
    """Capability IDs on the standard list of a 256-byte config header (bounded walk)."""
    if not int.from_bytes(config[6:8], "little") & PCI_STATUS_CAP_LIST:
        return []
    ids, pos = [], config[0x34] & 0xFC
    while pos and len(ids) < 48:
        ids.append(config[pos])
        pos = config[pos + 1] & 0xFC
    return ids


def test_err_irq_index_exactly_on_pcie(pmd_device):
    """The ERR index exists exactly on PCIe functions (VFIO answers EINVAL for it on
    conventional PCI; the PMD records that as absent instead of failing the open)."""
    irqs = {q["index"]: q for q in pmd_device.info["irqs"]}
    config = bytes.fromhex(pmd_device.call("pmd_device_config", offset=0, length=256)["hex"])
    pcie = PCI_CAP_ID_EXP in capability_ids(config)
    assert VFIO_PCI_ERR_IRQ in irqs, f"VFIO lists no ERR IRQ index: {pmd_device.info['irqs']}"
    err = irqs[VFIO_PCI_ERR_IRQ]
    assert err["present"] == pcie, f"ERR IRQ present={err['present']} on a {'PCIe' if pcie else 'conventional PCI'} function"


def test_bar_mapped_with_the_size_sysfs_reports(pmd_device):
    check_bar_mapped(pmd_device)


def test_bar_reads_the_same_through_the_mapping_and_the_region(pmd_device):
    """The first dword of the mapped BAR, through the mmap and through pread on the device fd."""
    read = pmd_device.call("pmd_device_bar_read", offset=0)
    allure.attach(str(read), "BAR dword 0", allure.attachment_type.TEXT)
    assert read["read"] is not None, read.get("read_error")
    assert read["mapped"] == read["read"], f"BAR{read['bar']}+0: mmap {read['mapped']:#x}, pread {read['read']:#x}"


def test_config_space_read_through_vfio(pmd_device):
    check_config_space(pmd_device)
    header = bytes.fromhex(pmd_device.call("pmd_device_config", offset=0, length=4)["hex"])
    vendor, device = int.from_bytes(header[:2], "little"), int.from_bytes(header[2:], "little")
    assert (f"{vendor:04x}", f"{device:04x}") == (pmd_device.before["vendor"], pmd_device.before["device"])


def test_bus_mastering_is_on_in_the_device(pmd_port):
    check_bus_mastering(pmd_port)


def test_mac_from_registers_is_the_kernel_drivers_mac(pmd_port):
    check_mac_from_registers(pmd_port)
