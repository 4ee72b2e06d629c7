"""Feature `pcie_health`: the function's capability lists walk cleanly and hold what its
profile lists, its PCI Express link and transfer sizes are within what it advertises, and
they are recorded (user properties, an Allure attachment). New error bits during any
feature test fail that test (fixtures/pcie_health.py); this test records the state.
"""
from __future__ import annotations

import json

import allure
import pytest

from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab]


@pytest.mark.nic_feature("pcie_health")
def test_capabilities_walk_and_link_is_recorded(feature, host, nic, nic_profile, record_property):
    snap = host.call("pci_health", address=nic["address"])
    feature.expect(snap.get("present", False), f"{nic['address']} is not on the bus")
    claimed = nic_profile.data.get("capabilities") or {}
    if "pcie" not in claimed:
        pytest.skip(f"{NOT_TESTABLE}the profile lists no PCI Express capability")
    allure.attach(json.dumps(snap, indent=1), f"PCIe health of {nic['address']}", allure.attachment_type.JSON)
    walked = set(snap["capabilities"]) | set(snap["extended_capabilities"])
    record_property("pcie_capabilities", ",".join(snap["capabilities"] + snap["extended_capabilities"]))
    feature.expect(not snap["problems"], f"the capability lists of {nic['address']} are broken: {snap['problems']}")
    missing = sorted(set(claimed) - walked)
    feature.expect(not missing, f"{nic['address']} has no {', '.join(missing)} capability in its lists "
                                f"(walked: {', '.join(sorted(walked))})")
    pcie = snap["pcie"]
    feature.expect(pcie is not None, f"{nic['address']}: no PCI Express capability status readable")
    for key in ("link_speed", "link_width", "max_payload", "max_read_request"):
        record_property(f"pcie_{key}", pcie.get(key))
    record_property("pcie_device_errors", ",".join(pcie["device_errors"]) or "none")
    supported = claimed["pcie"].get("max_payload")
    if supported:
        feature.expect(pcie["max_payload"] <= supported,
                       f"Device Control sets a max payload of {pcie['max_payload']} B, the function supports "
                       f"{supported} B")
    feature.expect(pcie.get("link_width", 0) > 0, f"{nic['address']}: link width {pcie.get('link_width')} (no link)")
