"""The driver-rebinding lifecycle, asserted step by step on each NIC (seed §3).

kernel driver + netdev → bound to vfio-pci / uio_pci_generic (netdev gone, device
node present) → restored (same driver, netdev name, MAC; override empty).
"""
from __future__ import annotations

import pytest

from fixtures.nics import device

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def journal_addresses(host) -> set:
    journal = host.call("journal")
    return {e["address"] for kind in ("held", "stale", "persistent") for e in journal[kind]}


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
