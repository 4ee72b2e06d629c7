"""The shared-group lab, live: two 82540EM NICs behind one PCIe-to-PCI bridge share an IOMMU group.

`nictest bind` of one NIC is refused offering --group; `nictest bind --group` moves both
NICs to vfio-pci under one journal entry and leaves the bridge alone; `nictest restore`
(or `nictest unbind`) of either NIC brings both back with their netdev names and MACs.
Needs `--host lab-group` (pytest boots it); on another host these tests skip.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nictest import lab

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

LAB = "lab-group"
BRIDGE = "0000:01:00.0"  # the PCIe-to-PCI bridge (QEMU pcie-pci-bridge), driverless
NICS = {"0000:02:01.0": "ens1", "0000:02:02.0": "ens2"}  # address -> netdev on e1000


@pytest.fixture
def shared(host) -> dict:
    """address -> MAC of the lab's two NICs, after checking they are on e1000 as the lab boots them."""
    if host.spec.kind != "qemu" or host.spec.lab != LAB:
        pytest.skip(f"{host.name} is not the shared-group lab ({LAB})")
    macs = dict(zip(NICS, lab.profile(LAB).nic_macs))
    for address, dev in devices(host).items():
        if address in NICS:
            assert (dev["driver"], dev["netdev"], dev["mac"]) == ("e1000", NICS[address], macs[address]), dev
    return macs


def devices(host) -> dict:
    return {d["address"]: d for d in host.call("status")["devices"]}


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nictest.cli", *argv], capture_output=True, text=True, timeout=300)


def on_kernel_drivers(host, macs: dict) -> None:
    now = devices(host)
    for address, name in NICS.items():
        dev = now[address]
        assert (dev["driver"], dev["netdev"], dev["mac"], dev["driver_override"]) == ("e1000", name, macs[address], None), dev
    assert not [e for kind in host.call("journal").values() for e in kind], host.call("journal")


def test_the_nics_share_one_group_with_the_bridge(host, shared):
    nic = devices(host)["0000:02:01.0"]
    members = host.call("iommu_group_members", group=nic["iommu_group"])
    assert [(m["address"], m["bridge"], m["driver"]) for m in members] == [
        (BRIDGE, True, None), ("0000:02:01.0", False, "e1000"), ("0000:02:02.0", False, "e1000")]
    assert nic["iommu_group_members"] == [BRIDGE, "0000:02:02.0"] and nic["iommu_group_bridges"] == [BRIDGE]


def test_single_bind_is_refused_offering_group(host, shared):
    done = cli("bind", "--host", host.name, "0000:02:01.0", "vfio-pci")
    assert done.returncode != 0 and "--group" in done.stderr and "0000:02:02.0 on e1000" in done.stderr, done
    on_kernel_drivers(host, shared)


@pytest.mark.parametrize("give_back", ["restore", "unbind"])
def test_bind_group_then_give_back_with_either_nic(host, shared, give_back):
    bound = cli("bind", "--group", "--host", host.name, "0000:02:01.0", "vfio-pci")
    try:
        assert bound.returncode == 0, bound.stderr
        assert "IOMMU group" in bound.stdout and "0000:02:01.0, 0000:02:02.0" in bound.stdout, bound.stdout
        now = devices(host)
        for address in NICS:
            assert (now[address]["driver"], now[address]["netdevs"]) == ("vfio-pci", []), now[address]
        bridge = {m["address"]: m for m in host.call("iommu_group_members", group=now["0000:02:01.0"]["iommu_group"])}
        assert bridge[BRIDGE]["driver"] is None, "the bridge must stay as it was"
        entries = host.call("journal")["persistent"]
        assert [sorted(m["address"] for m in e["members"]) for e in entries] == [sorted(NICS)], entries
        status = cli("status", "--host", host.name)
        assert "PERSISTENT: IOMMU group" in status.stdout, status.stdout
    finally:
        back = cli(give_back, "--host", host.name, "0000:02:02.0")  # the other NIC: the group comes back whole
    assert back.returncode == 0, back.stderr
    assert "0000:02:01.0 on e1000 as ens1" in back.stdout and "0000:02:02.0 on e1000 as ens2" in back.stdout, back.stdout
    on_kernel_drivers(host, shared)


def test_the_pmd_opens_one_member_of_a_bound_group(host, shared):
    bound = cli("bind", "--group", "--host", host.name, "0000:02:02.0", "vfio-pci")
    assert bound.returncode == 0, bound.stderr
    try:
        host.call("pmd_build", timeout=600)
        info = host.call("pmd_open", address="0000:02:01.0", backend="vfio")
        try:
            assert info["mac"] == shared["0000:02:01.0"], json.dumps(info)[:500]
        finally:
            host.call("pmd_close", port=info["port"])
    finally:
        back = cli("restore", "--host", host.name, "0000:02:01.0")
    assert back.returncode == 0, back.stderr
    on_kernel_drivers(host, shared)
