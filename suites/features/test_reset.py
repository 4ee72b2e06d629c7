"""Feature `reset`: the function offers the reset methods its profile lists (sysfs
reset_method), and after a reset the driver re-initialises every register it relies on (its
named register dump, read back as after a plain re-initialisation) and frames flow again
both ways to the cabled peer. The reset is VFIO_DEVICE_RESET where VFIO offers one for the
function; where it offers none (a conventional PCI function with no FLR, no PM capability
and no bus of its own to reset: the profile's reset_methods is empty) it is the driver's
software reset of the MAC (e.g. CTRL.RST on the 8254x), which is then what the claim means.

The reference dump is the driver's re-initialisation without a reset (kind "none"): the
same code path as after the reset, so any register the reset left different is one the
driver does not re-program. The status register reports the hardware's state (link,
speed), not the driver's programming: it is recorded, not compared.
"""
from __future__ import annotations

import json

import allure
import pytest

from fixtures.pmd import pmd_model, wait_link
from fixtures.traffic import arrived, settle
from nictest.models.check import SLOT_RESET_METHODS
from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab]

N = 32
SIZE = 256
HARDWARE_STATE = ("status",)   # read-only state the driver does not program


@pytest.mark.nic_feature("reset")
def test_offered_reset_methods_match_the_profile(feature, host, nic, nic_profile, record_property):
    """The function's own methods; a slot's ("bus": the NIC alone behind its bridge) are recorded only."""
    offered = host.call("pci_config", address=nic["address"]).get("reset_methods", [])
    own = [m for m in offered if m not in SLOT_RESET_METHODS]
    claimed = list(nic_profile.data.get("reset_methods", []))
    record_property("reset_methods", ",".join(offered))
    feature.expect(sorted(own) == sorted(claimed),
                   f"{nic['address']}'s sysfs reset_method offers {offered or 'nothing'} (slot methods "
                   f"{', '.join(SLOT_RESET_METHODS)} aside), the profile lists {claimed}")


def _by_name(dump: list) -> dict:
    return {r["name"]: r for r in dump}


def _not_reinitialised(reference: list, after: list) -> list:
    ref, now = _by_name(reference), _by_name(after)
    out = []
    for name, r in ref.items():
        if name in HARDWARE_STATE:
            continue
        got = now.get(name)
        if got is None or got["value"] != r["value"]:
            shown = "missing" if got is None else f"{got['value']:#010x}"
            out.append(f"{name} ({r['hw']} @ {r['offset']:#x}): {shown}, re-initialised {r['value']:#010x}")
    return out


def _both_ways(feature, pair, seq: int, when: str) -> None:
    for tx, rx, way in ((pair.peer, pair.port, "received by"), (pair.port, pair.peer, "sent by")):
        settle(tx, rx)
        got = arrived(tx, rx, rx.info["mac"], N, SIZE, seq)
        feature.expect(got["all"], f"{when}: {N} frames of {SIZE} B {way} {pair.port.address}: "
                                   f"{got['packets']} arrived, {got['bad']} bad, {got['desc_errors']} "
                                   f"with descriptor errors")
        seq += N


RESET_NAMES = {"vfio": "VFIO_DEVICE_RESET", "device": "the driver's software reset"}


def _reset_kind(port, host, nic) -> tuple:
    """The reset to check on this port and, when there is none, why (kind None)."""
    if port.backend != "vfio":
        return None, f"{port.address} is opened through {port.backend}"
    if port.info.get("vfio_reset"):
        return "vfio", ""
    model = pmd_model(host, nic) or {}
    if "device" in model.get("resets", ()):
        return "device", ""
    return None, (f"VFIO offers no device reset for {port.address} and the {model.get('driver')} driver has "
                  "no software reset")


@pytest.mark.destructive
@pytest.mark.datapath
@pytest.mark.nic_feature("reset", needs=("pmd", "peer"))
def test_reset_reinitialises_registers_and_traffic_flows(feature, pair, host, nic, record_property):
    port = pair.port
    kind, why = _reset_kind(port, host, nic)
    if kind is None:
        pytest.skip(f"{NOT_TESTABLE}{why}")
    what = RESET_NAMES[kind]
    record_property("reset_kind", kind)
    _both_ways(feature, pair, 0, "before the reset")
    reference = port.call("pmd_reset", kind="none")["register_dump"]
    done = port.call("pmd_reset", kind=kind)
    record_property("reset_seconds", done["seconds"])
    allure.attach(json.dumps({"re-initialised": reference, f"after {what}": done["register_dump"]},
                             indent=1), f"{port.address} register dump", allure.attachment_type.JSON)
    missing = _not_reinitialised(reference, done["register_dump"])
    feature.expect(not missing, f"after {what} the driver left registers as the reset did: " + "; ".join(missing))
    wait_link(port, timeout_ms=10000)
    _both_ways(feature, pair, 1 << 20, f"after {what}")
