"""The driver-rebinding lifecycle, asserted step by step on each NIC (seed §3).

kernel driver + netdev → bound to vfio-pci / uio_pci_generic (netdev gone, device
node present) → restored (same driver, netdev name, MAC; override empty).
A NIC that shares its IOMMU group goes to vfio-pci with its whole group (whole_group);
the group bind itself is checked on every NIC, a group of one included.
"""
from __future__ import annotations

import pytest

from fixtures.nics import device, group_peers

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.whole_group]


def journal_entries(host) -> list:
    journal = host.call("journal")
    return [e for kind in ("held", "stale", "persistent") for e in journal[kind]]


def journal_addresses(host) -> set:
    """Every device a journal entry covers (a group entry covers each of its members)."""
    return {m["address"] for e in journal_entries(host) for m in e.get("members") or [e]}


def test_before_binding_the_nic_is_on_its_kernel_driver(nic):
    assert nic["driver"] and nic["driver"] not in ("vfio-pci", "uio_pci_generic"), nic
    assert nic["netdev"], f"{nic['address']} has no netdev on its kernel driver"
    assert nic["driver_override"] is None


def test_bind_then_restore_lifecycle(host, bound_nic):
    before = bound_nic.before
    now = device(host, bound_nic.address)
    # After bind: the lspci-equivalent driver is the user-space one and the netdev is gone.
    assert now["driver"] == bound_nic.driver
    assert now["driver_override"] == bound_nic.driver
    assert now["netdevs"] == []
    assert before["netdev"] not in {link["ifname"] for link in host.call("ip_links")}
    nodes = host.call("device_nodes", address=bound_nic.address)
    if bound_nic.driver == "vfio-pci":
        assert f"/dev/vfio/{before['iommu_group']}" in nodes["nodes"] and nodes["vfio_container"]
        assert bound_nic.bind["device_node"] == f"/dev/vfio/{before['iommu_group']}"
    else:
        assert any(n.startswith("/dev/uio") for n in nodes["nodes"]), nodes
    assert bound_nic.address in journal_addresses(host)

    # Restore (the fixture's teardown then finds nothing left to do).
    result = host.call("restore", address=bound_nic.address)
    assert result["restored"] is True
    after = device(host, bound_nic.address)
    assert after["driver"] == before["driver"]
    assert after["netdev"] == before["netdev"] and after["mac"] == before["mac"]
    assert after["mtu"] == before["mtu"]
    assert after["driver_override"] is None
    assert bound_nic.address not in journal_addresses(host)
    assert host.call("device_nodes", address=bound_nic.address)["nodes"] in ([], [f"/dev/vfio/{before['iommu_group']}"])



def test_group_bind_moves_every_endpoint_and_restores_them_together(host, nic, bound_group):
    """`nictest bind --group`: every endpoint of the NIC's IOMMU group on vfio-pci under one
    journal entry, bridges where they were; one restore brings every member back."""
    before = bound_group.members_before
    members = sorted(before)
    assert members == sorted([nic["address"]] + group_peers(nic))
    assert sorted(m["address"] for m in bound_group.bind["members"]) == members
    for address in members:
        now = device(host, address)
        assert (now["driver"], now["netdevs"]) == ("vfio-pci", []), f"{address} after the group bind: {now}"
    drivers = {m["address"]: m["driver"] for m in host.call("iommu_group_members", group=nic["iommu_group"])}
    for bridge in nic.get("iommu_group_bridges") or ():
        assert drivers[bridge] == nic["iommu_group_member_drivers"].get(bridge), f"bridge {bridge} was moved"
    entries = [e for e in journal_entries(host) if set(members) & {m["address"] for m in e.get("members") or [e]}]
    assert len(entries) == 1 and sorted(m["address"] for m in entries[0]["members"]) == members, entries
    assert entries[0]["group"] == nic["iommu_group"]
    assert f"/dev/vfio/{nic['iommu_group']}" in host.call("device_nodes", address=nic["address"])["nodes"]

    result = host.call("restore", address=members[-1])  # any member brings the whole group back
    assert result["restored"] is True and sorted(m["address"] for m in result["members"]) == members
    for address in members:
        was, after = before[address], device(host, address)
        assert (after["driver"], after["netdev"], after["mac"], after["mtu"], after["driver_override"]) == \
            (was["driver"], was["netdev"], was["mac"], was["mtu"], None), f"{address} after the group restore: {after}"
    assert not set(members) & journal_addresses(host)
