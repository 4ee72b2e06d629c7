"""Discovery conformance: what must hold on ANY conformant host, whatever its NICs.

Lab-specific expectations (which NICs, which groups) live in tests/, not here.
"""
from __future__ import annotations

import re

import allure
import pytest

pytestmark = pytest.mark.lab

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def test_every_nic_has_a_driver_or_is_explicitly_unbound(nics, host_status):
    held = {entry["address"] for key in ("held", "stale", "persistent")
            for entry in host_status.get("journal", {}).get(key, [])}
    stranded = [n["address"] for n in nics
                if n["driver"] is None and n["driver_override"] is None and n["address"] not in held]
    assert not stranded, f"NICs with no driver, no override and no journal entry: {stranded}"


@pytest.fixture
def configs(host, nics) -> dict:
    """Each NIC's config space as the agent's walker reads it from the device (sysfs `config`),
    independently of the attribute files (vendor, device, class) discovery reads."""
    return {n["address"]: host.call("pci_config", address=n["address"]) for n in nics}


def test_ids_and_class_match_config_space(nics, configs):
    """The IDs and class discovery took from the kernel's attribute files are what the device's
    config header says, and the header says network controller (class 0x02)."""
    assert nics, "the host reports no network-class PCI device at all"
    for nic in nics:
        config = configs[nic["address"]]
        sysfs = (nic["vendor"], nic["device"], nic["subsystem_vendor"], nic["subsystem_device"], nic["class"])
        header = (config["vendor"], config["device"], config["subsystem_vendor"], config["subsystem_device"],
                  f"0x{config['class']}")
        assert sysfs == header, f"{nic['address']}: sysfs (vendor, device, subsystem, class) {sysfs}, config space {header}"
        assert config["class"].startswith("02"), f"{nic['address']}: config space class {config['class']} is not a NIC"


def test_netdev_mac_matches_what_the_kernel_reports(host, nics):
    links = {link["ifname"]: link for link in host.call("ip_links")}
    with_netdev = [n for n in nics if n["netdev"]]
    assert with_netdev, "no NIC has a netdev: nothing to compare"
    for nic in with_netdev:
        assert MAC.match(nic["mac"]), nic
        assert links[nic["netdev"]]["address"] == nic["mac"], nic["address"]
        assert links[nic["netdev"]]["mtu"] == nic["mtu"], nic["address"]


def test_the_management_interface_is_flagged_active(host, nics):
    """The NIC whose netdev holds this session's local address (iproute2's view, the server side
    of $SSH_CONNECTION) is the one discovery flags as carrying the session."""
    if host.spec.kind == "local":
        pytest.skip("a local host has no SSH session to protect")
    session = [n for n in nics if n.get("carries_session")]
    assert session, "no NIC is flagged as carrying this SSH session"
    for nic in session:
        assert nic["active"] and nic["active_reason"], nic
    local = host.info.get("session_local")
    holders = {link["ifname"] for link in host.call("ip_addrs")
               if any(a.get("local") == local for a in link.get("addr_info", []))} if local else set()
    by_netdev = {name: n for n in nics for name in n.get("netdevs") or ()}
    direct = [by_netdev[name] for name in holders if name in by_netdev]
    # The address may sit on a bridge, bond or VLAN above the NIC: then only the flag is checked.
    for nic in direct:
        assert nic.get("carries_session"), (f"{nic['netdev']} holds the session's address {local} (ip addr), "
                                            f"but {nic['address']} is not flagged as carrying the session")


def test_iommu_groups_are_listed_exactly_when_the_host_has_an_iommu(host, nics):
    """Two kernel views agree: each device's `iommu_group` link, and each group's device list
    (iommu_groups/N/devices), which gives the members: another NIC is listed with this one
    exactly when its link names the same group."""
    iommu = host.info.get("iommu")
    allure.dynamic.parameter("iommu", iommu)
    for nic in nics:
        if iommu:
            assert isinstance(nic["iommu_group"], int), nic["address"]
            for other in nics:
                if other["address"] == nic["address"]:
                    continue
                listed = other["address"] in nic["iommu_group_members"]
                same = other["iommu_group"] == nic["iommu_group"]
                assert listed == same, (f"{other['address']} (group {other['iommu_group']}) "
                                        f"{'is' if listed else 'is not'} listed in the group of {nic['address']} "
                                        f"(group {nic['iommu_group']}): {nic['iommu_group_members']}")
        else:
            assert nic["iommu_group"] is None and nic["iommu_group_members"] == [], nic["address"]


def test_bar_types_agree_between_sysfs_and_config_space(nics, configs):
    """The kernel's `resource` flags (io/mem, 64-bit, prefetchable) against the BAR registers in
    config space, as the walker compares them; a NIC with a driver has a BAR."""
    for nic in nics:
        config = configs[nic["address"]]
        disagree = [p for p in config["problems"] if p.startswith("BAR ")]
        assert not disagree, f"{nic['address']}: " + "; ".join(disagree)
        if nic["driver"]:
            assert [b for b in nic["bars"] if not b.get("rom")], \
                f"{nic['address']} has a driver ({nic['driver']}) but no BAR"


def test_the_inventory_matches_the_host(host, nics):
    by_address = {n["address"]: n for n in nics}
    allowed = host.spec.nics or ()
    missing = [a for a in allowed if a not in by_address]
    assert not missing, f"hosts.toml lists NICs this host does not have: {missing}"
    for a, b in host.spec.links:
        assert a in by_address and b in by_address, (a, b)
    for address in allowed:
        assert not by_address[address]["active"], \
            f"hosts.toml allows binding {address}, but it is active: {by_address[address]['active_reason']}"
