"""The config-space walker on recorded lab devices and on broken, hand-made config bytes."""
from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from nictest.errors import DeviceNotFound
from nictest.pci.capabilities import names, walk
from nictest.pci.configspace import device_config, merge_bars
from tests import lspci
from tests.fakesysfs import FakeSysfs

RECORDED = Path(__file__).parent / "data" / "pci-config"
MODELS = ("igb-82576", "e1000e-82574L", "e1000-82540EM")


def recorded_config(model: str) -> bytes:
    return (RECORDED / model / "config").read_bytes()


def test_igb_walk_matches_what_the_lab_showed():
    walked = walk(recorded_config("igb-82576"))
    assert walked["problems"] == []
    assert (walked["vendor"], walked["device"], walked["class"]) == ("8086", "10c9", "020000")
    assert [(c["name"], c["offset"]) for c in walked["capabilities"]] == [
        ("pm", 0x40), ("msi", 0x50), ("msix", 0x70), ("pcie", 0xA0)]
    assert [(c["name"], c["offset"], c["version"]) for c in walked["extended_capabilities"]] == [
        ("aer", 0x100, 1), ("ari", 0x150, 1), ("sriov", 0x160, 1)]
    caps = {c["name"]: c for c in walked["capabilities"] + walked["extended_capabilities"]}
    assert caps["msix"]["table_size"] == 10 and caps["msix"]["table_bar"] == 3 and caps["msix"]["pba_offset"] == 0x2000
    assert caps["msi"]["vectors"] == 1 and caps["msi"]["maskable"] and caps["msi"]["addr64"]
    assert caps["pcie"]["version"] == 2 and caps["pcie"]["type"] == "endpoint" and caps["pcie"]["flr"] is True
    assert (caps["pcie"]["max_link_speed"], caps["pcie"]["max_link_width"]) == ("2.5 GT/s", 1)
    assert (caps["sriov"]["total_vfs"], caps["sriov"]["vf_device"], caps["sriov"]["vf_stride"]) == (8, "10ca", 2)
    assert [(b["index"], b["type"]) for b in walked["bar_registers"]] == [
        (0, "mem32"), (1, "mem32"), (2, "io"), (3, "mem64")]  # BAR 4 is BAR 3's upper half


def test_e1000e_on_the_root_bus_is_an_integrated_endpoint_without_link_fields():
    walked = walk(recorded_config("e1000e-82574L"))
    pcie = [c for c in walked["capabilities"] if c["name"] == "pcie"][0]
    assert pcie["type"] == "rc_integrated_endpoint" and "max_link_width" not in pcie
    assert names(walked) == ("pm", "msi", "pcie", "msix", "aer", "dsn")


def test_e1000_has_no_capability_list_and_no_extended_space():
    walked = walk(recorded_config("e1000-82540EM"))
    assert walked["config_size"] == 256
    assert walked["capabilities"] == [] and walked["extended_capabilities"] == [] and walked["problems"] == []


@pytest.mark.parametrize("model", MODELS)
def test_walker_agrees_with_the_recorded_lspci(model, tmp_path):
    facts = facts_from_recording(tmp_path, model)
    assert lspci.disagreements(lspci.parse((RECORDED / model / "lspci-vv.txt").read_text()), facts) == []


def test_lspci_parse_reads_ids_bars_and_capabilities():
    seen = lspci.parse((RECORDED / "igb-82576" / "lspci-vv.txt").read_text())
    assert seen["ids"] == {"vendor": "8086", "device": "10c9", "revision": "01",
                           "subsystem_vendor": "1af4", "subsystem_device": "1100"}
    assert seen["bars"][3] == {"size": 0x4000, "type": "mem64", "prefetchable": False}
    assert 4 not in seen["bars"]  # the SR-IOV VF BARs are not the PF's
    assert seen["capabilities"][0x160]["total_vfs"] == 8 and seen["capabilities"][0xA0]["flr"] is True


def test_lspci_comparison_notices_a_difference(tmp_path):
    facts = facts_from_recording(tmp_path, "igb-82576")
    facts["capabilities"][2]["table_size"] = 12
    found = lspci.disagreements(lspci.parse((RECORDED / "igb-82576" / "lspci-vv.txt").read_text()), facts)
    assert found == ["msix at 0x70: table_size walker 12, lspci 10"]


# --- broken config space: reported, never raised -----------------------------------------

def header(status_caps: bool = True, cap_pointer: int = 0x40, size: int = 256) -> bytearray:
    data = bytearray(size)
    struct.pack_into("<HH", data, 0, 0x8086, 0x10D3)
    struct.pack_into("<H", data, 0x06, 0x10 if status_caps else 0)
    data[0x34] = cap_pointer
    return data


def put_cap(data: bytearray, at: int, cap_id: int, following: int) -> None:
    data[at], data[at + 1] = cap_id, following


def test_a_capability_list_that_loops_is_a_problem_not_a_hang():
    data = header()
    put_cap(data, 0x40, 0x01, 0x50)
    put_cap(data, 0x50, 0x05, 0x40)  # back to the first
    walked = walk(bytes(data))
    assert [c["name"] for c in walked["capabilities"]] == ["pm", "msi"]
    assert walked["problems"] == ["capability list loops back to 0x40"]


@pytest.mark.parametrize("pointer, size", [(0x20, 256), (0x90, 128)])
def test_a_pointer_into_the_header_or_past_the_end_is_a_problem(pointer, size):
    walked = walk(bytes(header(cap_pointer=pointer, size=size)))
    assert walked["capabilities"] == []
    assert walked["problems"] and f"0x{pointer:02x}" in walked["problems"][0]


def test_no_capability_list_bit_means_no_capabilities_even_with_a_pointer():
    data = header(status_caps=False)
    put_cap(data, 0x40, 0x01, 0)
    assert walk(bytes(data))["capabilities"] == []


def test_only_the_header_readable_says_root_is_needed():
    walked = walk(bytes(header(size=64)))
    assert any("root" in p for p in walked["problems"])


def test_too_short_config_is_reported():
    walked = walk(b"\x86\x80")
    assert walked["problems"] and "2 bytes" in walked["problems"][0]


def test_an_extended_list_that_loops_or_points_back_is_a_problem():
    data = header(size=4096)
    put_cap(data, 0x40, 0x10, 0)
    struct.pack_into("<I", data, 0x100, 0x0001 | (1 << 16) | (0x100 << 20))  # AER pointing at itself
    walked = walk(bytes(data))
    assert [c["name"] for c in walked["extended_capabilities"]] == ["aer"]
    assert walked["problems"] == ["extended capability list loops back to 0x100"]
    struct.pack_into("<I", data, 0x100, 0x0001 | (1 << 16) | (0x40 << 20))
    assert "points into the standard space" in walk(bytes(data))["problems"][0]


def test_unknown_capability_ids_keep_their_number():
    data = header(size=4096)
    put_cap(data, 0x40, 0x42, 0)
    struct.pack_into("<I", data, 0x100, 0x0ABC | (1 << 16))
    assert names(walk(bytes(data))) == ("cap_42", "ext_0abc")


def test_config_and_resource_disagreeing_on_a_bar_type_is_a_problem():
    registers = [{"index": 0, "type": "mem64", "prefetchable": False}]
    merged = merge_bars("0x00000000fe800000 0x00000000fe81ffff 0x0000000000040200\n", registers)
    assert merged["bars"] == [{"index": 0, "size": 0x20000, "type": "mem32", "prefetchable": False}]
    assert merged["problems"] and "BAR 0" in merged["problems"][0]


# --- device_config over a recorded sysfs tree ---------------------------------------------

def facts_from_recording(tmp_path, model: str, address: str = "0000:01:00.0") -> dict:
    """device_config() over a fake sysfs tree holding the recorded attribute files of `model`."""
    fake = FakeSysfs(tmp_path / model)
    device_dir = fake.add_pci(address)
    for attribute in (RECORDED / model).iterdir():
        shutil.copyfile(attribute, device_dir / attribute.name)
    return device_config(fake.root, address)


def test_device_config_combines_config_resource_and_kernel_attributes(tmp_path):
    facts = facts_from_recording(tmp_path, "igb-82576")
    assert facts["address"] == "0000:01:00.0" and facts["problems"] == []
    assert facts["bars"] == [
        {"index": 0, "size": 0x20000, "type": "mem32", "prefetchable": False},
        {"index": 1, "size": 0x20000, "type": "mem32", "prefetchable": False},
        {"index": 2, "size": 32, "type": "io", "prefetchable": False},
        {"index": 3, "size": 0x4000, "type": "mem64", "prefetchable": False}]
    assert facts["expansion_rom"] is None
    assert facts["reset_methods"] == ["flr", "pm", "bus"] and facts["sriov_totalvfs"] == 7
    assert facts["numa_node"] == -1


def test_device_config_without_reset_method_file_lists_none(tmp_path):
    facts = facts_from_recording(tmp_path, "e1000-82540EM")
    assert facts["reset_methods"] == [] and facts["sriov_totalvfs"] is None
    assert facts["expansion_rom"] == {"size": 0x40000}


def test_a_vf_takes_its_ids_from_sysfs_not_from_config_space(tmp_path):
    """A VF's config space reads ffff:ffff for its IDs (SR-IOV 3.4.1.1-2); the kernel's vendor/device
    attributes hold the real ones, and a profile recorded from a VF must carry those."""
    fake = FakeSysfs(tmp_path)
    fake.add_pci("0000:01:00.0", device="10c9")
    vf_dir = fake.add_vf("0000:01:00.0", 0, "0000:01:10.0", "10ca", driver=None, iommu_group=9)
    config = bytearray((RECORDED / "igb-82576" / "config").read_bytes())
    config[0:4] = b"\xff\xff\xff\xff"
    (vf_dir / "config").write_bytes(bytes(config))
    facts = device_config(fake.root, "0000:01:10.0")
    assert (facts["vendor"], facts["device"], facts["physfn"]) == ("8086", "10ca", "0000:01:00.0")
    (fake.root / "sys/bus/pci/devices/0000:01:00.0/config").write_bytes((RECORDED / "igb-82576" / "config").read_bytes())
    pf = device_config(fake.root, "0000:01:00.0")
    assert (pf["vendor"], pf["device"]) == ("8086", "10c9") and "physfn" not in pf


def test_device_config_of_a_missing_device_names_the_fix(tmp_path):
    fake = FakeSysfs(tmp_path)
    with pytest.raises(DeviceNotFound, match="nictest status"):
        device_config(fake.root, "0000:09:00.0")


def test_pci_config_is_an_agent_op_taking_one_address():
    from nictest.agent.ops import OPS, load_op_modules
    from nictest.errors import PciAddressError

    assert "nictest.agent.pci_ops" not in load_op_modules()
    assert OPS["pci_config"].arg_types == {"address": str} and OPS["pci_config"].required == ("address",)
    with pytest.raises(PciAddressError):
        OPS["pci_config"].fn(None, address="../../etc")
