"""The feature gate on a lab, live: a vendor profile that claims more than the model has
(more unicast filter entries than the PMD's driver knows the MAC to have) makes exactly
that feature fail, with a message naming the profile entry; no other test fails and the
model's other claims (stats here) still pass, and a feature the profile does not list is reported as not claimed.

Needs `--host` on a bundled lab with a cabled pair the PMD drives (lab-igb*, lab-e1000*).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.nics import device
from fixtures.pmd import pmd_model
from nictest import models

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.lab


def _outcomes(junit: Path) -> dict:
    cases = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdict, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                verdict, message = child.tag, (child.get("message") or "") + (child.text or "")
        cases[case.get("name")] = (verdict, message)
    return cases


def test_an_overclaimed_feature_fails_naming_the_profile_entry(host, tmp_path):
    """One inner run per host, on the first NIC of its first cabled pair."""
    if host.spec.kind != "qemu" or not getattr(host.spec, "links", None):
        pytest.skip(f"{host.name} is not a bundled lab with a cabled pair")
    nic = device(host, list(host.spec.links[0])[0])
    model = pmd_model(host, nic)
    bundled = models.find_profile(nic["vendor"], nic["device"])
    if model is None or bundled is None or not bundled.claims("filters"):
        pytest.skip(f"{nic['address']}: no PMD driver or no bundled profile claiming filters")
    entries = model["mac_filters"] + 8
    wrong = copy.deepcopy(bundled.data)
    wrong["filters"] = {"unicast_entries": entries}
    wrong["features"] = [f for f in wrong["features"] if f != "mtu"]   # and one claim withdrawn
    wrong.pop("mtu", None)
    vendor_dir = tmp_path / "vendor-profiles"
    vendor_dir.mkdir()
    profile_path = vendor_dir / Path(bundled.path).name
    profile_path.write_text(json.dumps(wrong, indent=2))
    junit = tmp_path / "junit.xml"
    # The user-space driver that applies to the host: VFIO with an IOMMU, UIO without (lab2).
    driver = ["--driver", "vfio-pci"] if host.info.get("iommu") else ["--driver", "uio_pci_generic", "--allow-uio"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/features", "--host", host.name, "--nic", nic["address"],
         *driver, "--profiles", str(vendor_dir), "--keep-lab", "-q", "-p", "no:randomly",
         "-p", "no:cacheprovider", f"--junitxml={junit}", f"--alluredir={tmp_path / 'allure'}"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    tail = run.stdout[-3000:]
    assert run.returncode == 1, f"the inner run should fail the overclaim: exit {run.returncode}\n{tail}"
    cases = {name.split("[")[0]: v for name, v in _outcomes(junit).items()}
    shown = os.path.relpath(profile_path, REPO)
    shown = str(profile_path) if shown.startswith("..") else shown
    verdict, message = cases["test_filter_entries_multicast_table_broadcast_and_promiscuous"]
    assert verdict == "failure", cases
    failed = sorted(name for name, (v, _) in cases.items() if v in ("failure", "error"))
    assert failed == ["test_filter_entries_multicast_table_broadcast_and_promiscuous"], (
        f"exactly the overclaimed feature must fail; failed: {failed}")
    assert message.startswith(f"{shown} claims 'filters' (unicast_entries {entries})"), message
    assert cases["test_counters_match_the_traffic_and_clear_on_read"][0] == "passed", cases
    verdict, message = cases["test_max_frame_arrives_whole_both_ways_and_longer_frames_are_dropped"]
    assert verdict == "skipped" and message.startswith(f"not claimed: {shown} does not list 'mtu'"), cases
