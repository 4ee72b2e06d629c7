"""Profiles on the labs, live: a lab NIC recorded now equals its bundled profile, lspci agrees
with the walker, and suites/test_profile.py pointed at a wrong profile fails exactly there.

Needs `--host` on a bundled lab (lab-igb*, lab-e1000*, lab1/lab3-lab7): which model sits
at which address comes from the lab's definition (nictest/lab/labs.toml).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nictest import inventory, lab, models
from tests import lspci
from tests.reliability.labshell import LabShell
from tests.test_smoke_stage import outcomes, toml_value

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.lab


def lab_model(host, address: str) -> str:
    if host.spec.kind != "qemu":
        pytest.skip(f"{host.name} is not a bundled lab: which model sits where is a lab fact")
    for nic in lab.profile(host.spec.lab).nics:
        if nic.guest_address == address:
            return nic.model
    raise AssertionError(f"{address} is not a NIC of lab {host.spec.lab}")


def bundled_for(model: str) -> models.Profile:
    found = [p for p in models.bundled_profiles().values() if p.model == model]
    assert found, f"no bundled profile for lab model {model}: nictest/models/{model}.json is missing"
    return found[0]


def nictest(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "nictest.cli", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_recording_a_lab_nic_gives_its_bundled_profile(host, nic, tmp_path):
    expected = bundled_for(lab_model(host, nic["address"]))
    out = tmp_path / "golden.json"
    run = nictest("profile", "record", "--host", host.name, nic["address"], "--out", str(out))
    assert run.returncode == 0, run.stderr
    recorded = json.loads(out.read_text())
    different = {key: (recorded.get(key), expected.data.get(key)) for key in set(recorded) | set(expected.data)
                 if recorded.get(key) != expected.data.get(key)}
    assert not different, f"{nic['address']} recorded now vs {expected.path}: {different}"
    check = nictest("profile", "check", "--host", host.name, nic["address"], "--profile", str(out))
    assert check.returncode == 0 and "matches" in check.stdout, check.stdout + check.stderr


def test_lspci_in_the_guest_agrees_with_the_walker(host, nic):
    lab_model(host, nic["address"])
    facts = host.call("pci_config", address=nic["address"])
    with LabShell(host.spec) as shell:
        text = shell.run(f"lspci -vvv -nn -s {nic['address']}")
    seen = lspci.parse(text)
    assert seen["bars"], f"lspci showed no BAR for {nic['address']}:\n{text}"
    assert lspci.disagreements(seen, facts) == [], text


def inventory_with_unprofiled_nic(request, host, address: str, other: str, tmp_path: Path) -> Path:
    """The inventory with this host's NICs set to `address` and `other` (read-only suite only)."""
    source = Path(inventory.load(request.config.getoption("inventory")).path)
    hosts = tomllib.loads(source.read_text())["hosts"]
    entry = dict(hosts[host.name], nics=[address, other], links=[])
    text = f"[hosts.{host.name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in entry.items())
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    return path


def test_the_profile_suite_fails_exactly_the_wrong_claim_and_skips_an_unprofiled_nic(host, request, tmp_path):
    """One inner run per host, on its first NIC under test and one network device without a profile."""
    if host.spec.kind != "qemu":
        pytest.skip(f"{host.name} is not a bundled lab: which model sits where is a lab fact")
    devices = host.call("status")["devices"]
    lab_nics = [n.guest_address for n in lab.profile(host.spec.lab).nics]
    nic = [d for d in devices if d["address"] in lab_nics][0]
    model = lab_model(host, nic["address"])
    bundled = bundled_for(model)
    unprofiled = [d for d in devices if models.find_profile(d["vendor"], d["device"]) is None]
    assert unprofiled, f"{host.name} has no network device without a profile (the lab's virtio NIC has none)"
    other = unprofiled[0]
    claimed = "vpd" if "vpd" not in bundled.data["capabilities"] else "acs"
    wrong = copy.deepcopy(bundled.data)
    wrong["capabilities"][claimed] = {}
    vendor_dir = tmp_path / "vendor-profiles"
    vendor_dir.mkdir()
    (vendor_dir / f"{model}.json").write_text(json.dumps(wrong, indent=2))
    hosts_toml = inventory_with_unprofiled_nic(request, host, nic["address"], other["address"], tmp_path)
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_profile.py", "--host", host.name,
         "--inventory", str(hosts_toml), "--profiles", str(vendor_dir), "--keep-lab", "-q", "-p", "no:randomly",
         f"--junitxml={junit}", f"--alluredir={tmp_path / 'allure'}",
         "--qualification-report", str(tmp_path / "qualification")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    tail = run.stdout[-3000:]
    assert run.returncode == 1, f"the inner run should fail the wrong claim: exit {run.returncode}\n{tail}"
    cases = outcomes(junit)
    mine = {n: v for n, v in cases.items() if nic["address"] in n}
    theirs = {n: v for n, v in cases.items() if other["address"] in n}
    assert set(mine) == {f"test_config_space_walks_cleanly[{host.name}-{nic['address']}]",
                         f"test_nic_matches_its_model_profile[{host.name}-{nic['address']}]"}, cases
    verdict, message = mine[f"test_nic_matches_its_model_profile[{host.name}-{nic['address']}]"]
    assert verdict == "failure", mine
    assert "in 1 entries" in message and f"{vendor_dir / (model + '.json')}: capabilities.{claimed}: " \
        "the profile says 'present'" in message, message
    assert mine[f"test_config_space_walks_cleanly[{host.name}-{nic['address']}]"][0] == "passed", mine
    skipped = theirs[f"test_nic_matches_its_model_profile[{host.name}-{other['address']}]"]
    assert skipped[0] == "skipped" and (
        f"nictest profile record --host {host.name} {other['address']} --out FILE") in skipped[1], theirs
    assert theirs[f"test_config_space_walks_cleanly[{host.name}-{other['address']}]"][0] == "passed", theirs

    qualification_names_the_wrong_profile(host, nic, other, vendor_dir / f"{model}.json", claimed,
                                          tmp_path / "qualification" / "qualification.json")


def qualification_names_the_wrong_profile(host, nic, other, wrong_file: Path, claimed: str, path: Path) -> None:
    """The same inner run's qualification report: the facts are the host's own, the profile is the
    vendor's file (its sha256), its row fails with the entry, the unprofiled NIC cannot qualify."""
    import hashlib
    report = json.loads(path.read_text())
    (entry,) = report["hosts"]
    nics = {n["address"]: n for n in entry["nics"]}
    assert set(nics) == {nic["address"], other["address"]}, sorted(nics)
    assert entry["kernel"] == host.info["kernel"] and entry["iommu"] == host.info["iommu"]
    mine = nics[nic["address"]]
    for key in ("vendor", "device", "subsystem_vendor", "subsystem_device", "driver", "module", "netdev"):
        assert mine[key] == nic[key], (key, mine[key], nic[key])
    ethtool = host.call("ethtool_i", ifname=nic["netdev"])["info"]
    assert (mine["driver_version"], mine["firmware_version"]) == (ethtool["version"], ethtool["firmware-version"])
    assert mine["profile"]["path"] == str(wrong_file)
    assert mine["profile"]["sha256"] == hashlib.sha256(wrong_file.read_bytes()).hexdigest()
    row = mine["rows"]["profile"]
    assert row["status"] == "fail" and f"capabilities.{claimed}" in row["message"], row
    assert mine["verdict_line"].startswith("NOT QUALIFIED: profile fails: "), mine["verdict_line"]
    theirs = nics[other["address"]]
    assert theirs["rows"]["profile"]["status"] == "skipped", theirs["rows"]["profile"]
    assert "nictest profile record" in theirs["rows"]["profile"]["message"]
    assert theirs["verdict"] == "INCOMPLETE" and "no qualification profile" in theirs["verdict_line"]
    assert report["verdict"] == "NOT QUALIFIED"
