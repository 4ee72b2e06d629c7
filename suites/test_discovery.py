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


def test_ids_and_class_are_well_formed(nics):
    assert nics, "the host reports no network-class PCI device at all"
    for nic in nics:
        assert re.fullmatch(r"[0-9a-f]{4}", nic["vendor"]) and re.fullmatch(r"[0-9a-f]{4}", nic["device"])
        assert nic["class"].startswith("0x02"), nic


def test_netdev_mac_matches_what_the_kernel_reports(host, nics):
    links = {link["ifname"]: link for link in host.call("ip_links")}
    with_netdev = [n for n in nics if n["netdev"]]
    assert with_netdev, "no NIC has a netdev: nothing to compare"
    for nic in with_netdev:
        assert MAC.match(nic["mac"]), nic
        assert links[nic["netdev"]]["address"] == nic["mac"], nic["address"]
        assert links[nic["netdev"]]["mtu"] == nic["mtu"], nic["address"]


def test_the_management_interface_is_flagged_active(host, nics):
    if host.spec.kind == "local":
        pytest.skip("a local host has no SSH session to protect")
    session = [n for n in nics if n.get("carries_session")]
    assert session, "no NIC is flagged as carrying this SSH session"
    for nic in session:
        assert nic["active"] and nic["active_reason"], nic


def test_iommu_groups_are_listed_exactly_when_the_host_has_an_iommu(host, nics):
    iommu = host.info.get("iommu")
    allure.dynamic.parameter("iommu", iommu)
    for nic in nics:
        if iommu:
            assert isinstance(nic["iommu_group"], int), nic["address"]
            assert nic["address"] not in nic["iommu_group_members"]
        else:
            assert nic["iommu_group"] is None and nic["iommu_group_members"] == [], nic["address"]


def test_bars_are_sane_for_bound_nics(nics):
    for nic in (n for n in nics if n["driver"]):
        memory = [b for b in nic["bars"] if not b.get("rom")]
        assert memory, f"{nic['address']} has no BAR"
        for bar in memory:
            assert bar["size"] > 0 and bar["end"] >= bar["start"], (nic["address"], bar)


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
