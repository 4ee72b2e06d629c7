"""SR-IOV lifecycle: VFs created on a PF that stays on its kernel driver, each bound to
vfio-pci and given back, and the PF left exactly as it was — for every NIC whose profile
claims 'sriov'.

What the model promises comes from its profile (capabilities.sriov: the VF device ID);
how many VFs the host offers is the host's (sysfs sriov_totalvfs). The fixture `vfs`
removes the VFs after each test and checks the PF (sriov_numvfs, driver, netdev, MAC, MTU).
"""
from __future__ import annotations

import allure
import pytest

from fixtures.nics import device, require_driver
from nictest.errors import RefusedError

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.nic_feature("sriov")]

VFS = 2  # enough for VF-to-VF; fewer when the host offers fewer


def test_vfs_appear_as_the_model_says_and_hold_their_pf(host, nic, nic_profile, sriov_pf, vfs):
    """The VFs' IDs are the profile's, each VF has an IOMMU group of its own, and the PF
    cannot be bound away while its VFs exist."""
    count = min(VFS, sriov_pf["total_vfs"])
    made = vfs(count)
    promised = (nic_profile.data.get("capabilities", {}).get("sriov") or {}).get("vf_device")
    assert len(made) == count, f"{nic['address']}: asked for {count} VFs, {len(made)} appeared"
    for vf in made:
        assert vf["vendor"] == nic["vendor"] and (promised is None or vf["device"] == promised), (
            f"{vf['address']} is {vf['vendor']}:{vf['device']}; {nic_profile.path} promises VF device "
            f"{nic['vendor']}:{promised}")
    if host.info.get("iommu"):
        groups = {vf["address"]: vf.get("iommu_group") for vf in made}
        assert None not in groups.values(), f"VFs without an IOMMU group on an IOMMU host: {groups}"
        # A VF is the unit VFIO hands to a VM: it must not share its group with the PF or another VF.
        assert len(set(groups.values()) | {nic.get("iommu_group")}) == count + 1, (
            f"{nic['address']} (group {nic.get('iommu_group')}) and its VFs share IOMMU groups: {groups}")
    with pytest.raises(RefusedError, match="VF"):
        host.call("bind", address=nic["address"], driver="vfio-pci")
    assert device(host, nic["address"])["driver"] == nic["driver"]


def test_each_vf_binds_to_vfio_and_comes_back(host, nic, sriov_pf, vfs, request):
    require_driver(host, "vfio-pci", request.config)
    made = vfs(min(VFS, sriov_pf["total_vfs"]))
    for vf in made:
        with allure.step(f"{vf['address']}: {vf.get('driver') or 'no driver'} -> vfio-pci -> back"):
            bound = host.call("bind", address=vf["address"], driver="vfio-pci")
            nodes = host.call("device_nodes", address=vf["address"])["nodes"]
            assert bound["device_node"] in nodes and device(host, vf["address"])["driver"] == "vfio-pci", (
                f"{vf['address']} bound to vfio-pci but the kernel shows {device(host, vf['address'])['driver']} "
                f"and nodes {nodes}")
            back = host.call("restore", address=vf["address"])
            assert device(host, vf["address"])["driver"] == vf.get("driver") == back["driver"], (
                f"{vf['address']} came back on {device(host, vf['address'])['driver']}, it was on {vf.get('driver')}")


def test_more_vfs_than_the_host_offers_are_refused_touching_nothing(host, nic, sriov_pf):
    with pytest.raises(RefusedError, match="sriov_totalvfs"):
        host.call("vf_create", address=nic["address"], num_vfs=sriov_pf["total_vfs"] + 1)
    now = host.call("vf_list", address=nic["address"])["pfs"][0]
    assert now["num_vfs"] == sriov_pf["num_vfs"] and not now["vfs"]
    assert not [e for kind in host.call("journal").values() for e in kind if e["address"] == nic["address"]]
