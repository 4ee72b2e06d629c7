"""Model profiles: the loader names file and key, check() names the entry, record() keeps model facts only."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nictest import models
from nictest.errors import ProfileError
from nictest.hosts.ssh import agent_files
from nictest.models.schema import FEATURES
from fixtures.profiles import no_profile_reason
from tests.test_pci_capabilities import facts_from_recording

REPO = Path(__file__).resolve().parent.parent

RECORDED_MODEL = {"igb": "igb-82576", "e1000e": "e1000e-82574L", "e1000": "e1000-82540EM"}


def bundled(model: str) -> models.Profile:
    return [p for p in models.bundled_profiles().values() if p.model == model][0]


def write(tmp_path, data, name="card.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_bundled_profiles_are_the_lab_models():
    found = {key: p.model for key, p in models.bundled_profiles().items()}
    assert found == {"8086:10c9": "igb", "8086:10ca": "igbvf", "8086:10d3": "e1000e", "8086:100e": "e1000"}
    assert not bundled("igbvf").claims("sriov")
    assert bundled("igb").claims("sriov") and not bundled("e1000e").claims("sriov")
    assert not bundled("e1000").claims("rss") and not bundled("e1000").claims("pcie_health")
    for profile in models.bundled_profiles().values():
        assert set(profile.features) <= set(FEATURES)


@pytest.mark.parametrize("model", sorted(RECORDED_MODEL))
def test_bundled_profile_matches_its_recorded_device(model, tmp_path):
    facts = facts_from_recording(tmp_path, RECORDED_MODEL[model])
    profile = bundled(model)
    assert models.check(profile, facts) == []
    # and recording that device again gives the bundled file back (claims copied from it)
    assert models.profile_from_facts(facts, claims=profile.data) == profile.data


def test_find_profile_searches_the_given_directories_first(tmp_path):
    mine = copy.deepcopy(bundled("igb").data)
    mine["model"] = "vendor-igb"
    write(tmp_path, mine, "igb.json")
    assert models.find_profile("8086", "10c9", [str(tmp_path)]).model == "vendor-igb"
    assert models.find_profile("8086", "10d3", [str(tmp_path)]).model == "e1000e"  # falls back to bundled
    assert models.find_profile("1af4", "1000", [str(tmp_path)]) is None


def test_two_profiles_for_one_device_in_a_directory_name_both(tmp_path):
    write(tmp_path, bundled("igb").data, "a.json")
    write(tmp_path, bundled("igb").data, "b.json")
    with pytest.raises(ProfileError) as err:
        models.load_dir(str(tmp_path))
    assert "a.json" in str(err.value) and "b.json" in str(err.value)


# --- a broken profile file names the file and the key -------------------------------------

def broken(change):
    data = copy.deepcopy(bundled("igb").data)
    change(data)
    return data


BROKEN = [
    (lambda d: d["capabilities"]["msix"].update(table_size="ten"), "capabilities.msix.table_size"),
    (lambda d: d.pop("ids"), "ids: missing"),
    (lambda d: d["ids"].update(device="10C9"), "ids.device"),
    (lambda d: d["ids"].update(board="x"), "ids.board: unknown key"),
    (lambda d: d["bars"][1].update(size=100000), "bars[1].size"),
    (lambda d: d["bars"][0].update(type="memory"), "bars[0].type"),
    (lambda d: d["features"].append("teleport"), "features[13]: unknown feature 'teleport'"),
    (lambda d: d["capabilities"].pop("sriov"), "features[12]: claims 'sriov'"),
    (lambda d: d.update(queue={"rx": 1}), "queue: unknown key"),
    (lambda d: d["queues"].update(rx=0), "queues.rx"),
    (lambda d: d.update(schema=2), "schema"),
    (lambda d: d["capabilities"]["pm"].update(version=[2]), "capabilities.pm.version"),
    (lambda d: d["capabilities"]["msix"].update(tablesize=10), "capabilities.msix.tablesize: unknown field"),
    (lambda d: d["capabilities"]["pcie"].update(flr=1), "capabilities.pcie.flr: expected true or false"),
]


@pytest.mark.parametrize("change, key", BROKEN, ids=[key for _, key in BROKEN])
def test_a_broken_profile_names_file_and_key(change, key, tmp_path):
    path = write(tmp_path, broken(change))
    with pytest.raises(ProfileError) as err:
        models.load_profile(str(path))
    assert str(err.value).startswith(f"{path}: ") and key in str(err.value)


def test_invalid_json_names_file_line_and_column(tmp_path):
    path = write(tmp_path, '{"schema": 1,\n "model": }')
    with pytest.raises(ProfileError, match=rf"^{path}: line 2 column 11: not valid JSON"):
        models.load_profile(str(path))


def test_a_missing_file_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        models.load_profile(str(tmp_path / "none.json"))


# --- check() -------------------------------------------------------------------------------

def igb_facts(tmp_path) -> dict:
    return facts_from_recording(tmp_path, "igb-82576")


def test_a_claimed_capability_the_device_lacks_is_exactly_one_mismatch(tmp_path):
    data = broken(lambda d: d["capabilities"].update(vpd={}))
    [mismatch] = models.check(models.Profile("vendor/igb.json", data), igb_facts(tmp_path))
    assert (mismatch.section, mismatch.entry) == ("capabilities", "capabilities.vpd")
    assert mismatch.message("vendor/igb.json", "0000:01:00.0") == (
        "vendor/igb.json: capabilities.vpd: the profile says 'present', device 0000:01:00.0 has (absent)")


def test_each_field_difference_names_its_entry(tmp_path):
    data = broken(lambda d: (d["capabilities"]["msix"].update(table_size=25), d["bars"][3].update(type="mem32"),
                             d["ids"].update(revision="02"), d["capabilities"].pop("ari")))
    found = {(m.entry, m.expected, m.actual) for m in models.check(models.Profile("p.json", data), igb_facts(tmp_path))}
    assert found == {("capabilities.msix.table_size", 25, 10), ("bars[3] (BAR 3).type", "mem32", "mem64"),
                     ("ids.revision", "02", "01"), ("capabilities.ari", "(absent)", "present")}


def test_a_bar_the_device_lacks_and_one_it_adds_are_both_named(tmp_path):
    facts = igb_facts(tmp_path)
    data = broken(lambda d: d["bars"].pop(2))  # profile forgets the I/O BAR
    facts["bars"] = [b for b in facts["bars"] if b["index"] != 1]  # device lost BAR 1
    entries = {m.entry for m in models.check(models.Profile("p.json", data), facts)}
    assert entries == {"bars[1] (BAR 1)", "bars (BAR 2)"}


def test_slot_dependent_bus_reset_is_neither_required_nor_an_extra(tmp_path):
    facts = igb_facts(tmp_path)
    assert "bus" in facts["reset_methods"] and "bus" not in bundled("igb").data["reset_methods"]
    facts["reset_methods"] = ["flr", "pm"]
    assert models.check(bundled("igb"), facts) == []
    facts["reset_methods"] = ["pm", "device_specific"]
    assert {m.entry for m in models.check(bundled("igb"), facts)} == {"reset_methods (flr)",
                                                                       "reset_methods (device_specific)"}


def test_a_kernel_that_cannot_enable_any_vf_is_a_mismatch(tmp_path):
    facts = igb_facts(tmp_path)
    facts["sriov_totalvfs"] = 0
    assert [m.entry for m in models.check(bundled("igb"), facts)] == ["capabilities.sriov (sysfs sriov_totalvfs)"]


def test_walker_problems_are_their_own_section(tmp_path):
    facts = igb_facts(tmp_path)
    facts["problems"] = ["capability list loops back to 0x40"]
    assert [(m.section, m.actual) for m in models.check(bundled("igb"), facts)] == [
        ("config", "capability list loops back to 0x40")]


# --- record() ------------------------------------------------------------------------------

def test_record_without_claims_leaves_queues_and_features_to_fill(tmp_path):
    facts = facts_from_recording(tmp_path, "e1000e-82574L")
    profile = models.profile_from_facts(facts)
    assert profile["model"] == "8086-10d3" and profile["features"] == [] and profile["queues"] is None
    assert "fill queues and features" in profile["notes"]
    assert profile["capabilities"]["dsn"] == {}  # presence only: the serial number is one unit's
    assert "type" not in profile["capabilities"]["pcie"]  # the port type depends on the slot
    assert profile["reset_methods"] == ["pm"]
    text = json.dumps(profile)
    assert "52:54" not in text and "0000:00:03.0" not in text and "numa" not in text


# --- shipping and the CLI ------------------------------------------------------------------

def test_the_agent_bundle_ships_the_profiles():
    shipped = {rel for rel, _ in agent_files()}
    assert {"nictest/models/igb.json", "nictest/models/e1000e.json", "nictest/models/e1000.json",
            "nictest/models/loader.py", "nictest/pci/capabilities.py", "nictest/agent/pci_ops.py"} <= shipped
    assert not any(rel.endswith(".json") and "/models/" not in rel for rel in shipped)


def test_profile_record_refuses_to_overwrite_before_contacting_the_host(tmp_path):
    out = tmp_path / "card.json"
    out.write_text("{}")
    result = subprocess.run([sys.executable, "-m", "nictest.cli", "profile", "record", "--host", "nosuch-host",
                             "0000:01:00.0", "--out", str(out)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--force" in result.stderr and str(out) in result.stderr
    assert out.read_text() == "{}"


def test_a_broken_profiles_directory_stops_pytest_naming_file_and_key(tmp_path):
    write(tmp_path, broken(lambda d: d["capabilities"]["msix"].update(table_size="ten")), "igb.json")
    result = subprocess.run([sys.executable, "-m", "pytest", "suites/test_profile.py", "--profiles", str(tmp_path),
                             "-q", "-p", "no:randomly"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert f"--profiles: {tmp_path / 'igb.json'}: capabilities.msix.table_size" in result.stderr


def test_the_no_profile_skip_names_the_record_command():
    nic = {"vendor": "1af4", "device": "1000", "vendor_name": "Red Hat, Inc.", "device_name": "Virtio network device",
           "address": "0000:00:02.0"}
    reason = no_profile_reason("rack7", nic, ["/vendor/profiles", models.BUNDLED_DIR])
    assert reason.startswith("no qualification profile for 1af4:1000 (Red Hat, Inc. Virtio network device) in "
                             f"/vendor/profiles, {models.BUNDLED_DIR}")
    assert "`nictest profile record --host rack7 0000:00:02.0 --out FILE`" in reason


def test_models_import_with_the_standard_library_only():
    code = ("import sys; sys.modules['pytest'] = None; sys.modules['paramiko'] = None; "
            "import nictest.models as m; print(len(m.bundled_profiles()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "4", result.stderr
