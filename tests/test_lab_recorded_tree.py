"""Discovery on the sysfs/proc tree recorded from the lab1 guest (python3 -m nictest.pci.record)."""
from pathlib import Path

from nictest import pci

LAB1 = Path(__file__).parent / "data" / "lab1-sysfs"
SSH_CLIENT = (LAB1 / "SSH_CONNECTION").read_text().split()[0]


def by_address():
    return {d.to_dict()["address"]: d.to_dict()
            for d in pci.discover(str(LAB1), SSH_CLIENT)}


def test_lab1_nics_under_test_are_two_82574l_on_e1000e_in_own_groups():
    devices = by_address()
    for address, group, mac in (("0000:00:03.0", 3, "52:54:00:00:01:10"),
                                ("0000:00:04.0", 4, "52:54:00:00:01:11")):
        nic = devices[address]
        assert (nic["vendor"], nic["device"], nic["driver"]) == ("8086", "10d3", "e1000e")
        assert nic["iommu_group"] == group and nic["iommu_group_members"] == []
        assert nic["mac"] == mac and nic["netdev"] == f"enp0s{address[9]}"
        assert nic["driver_override"] is None
        assert nic["active"] is False
        assert [b["index"] for b in nic["bars"]][:1] == [0] and nic["bars"][0]["size"] == 0x20000


def test_lab1_management_nic_is_active_because_it_carries_the_session():
    mgmt = by_address()["0000:00:02.0"]
    assert mgmt["driver"] == "virtio-pci" and mgmt["active"] is True
    assert "SSH session" in mgmt["active_reason"]


def test_lab1_has_an_iommu():
    assert pci.iommu_enabled(str(LAB1)) is True
