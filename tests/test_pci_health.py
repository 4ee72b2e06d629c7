"""nictest.pci.health and the PCIe health guard's verdict, on an 82576's recorded config space
(the AER dump of tests/test_pci_aer.py) with Device Status error bits set by hand."""
from __future__ import annotations

from pathlib import Path

from nictest.pci import aer, health
from nictest.pci.capabilities import by_name, walk

DUMP = (Path(__file__).parent / "data/igb-config-aer-set.bin").read_bytes()


def _pcie_at(data: bytes) -> int:
    return by_name(walk(data)["capabilities"])["pcie"]["offset"]


def with_devsta(data: bytes, value: int, aer_clear: bool = True) -> bytes:
    out = bytearray(data)
    at = _pcie_at(data) + health.PCI_EXP_DEVSTA
    out[at:at + 2] = value.to_bytes(2, "little")
    if aer_clear:
        for reg in (aer.PCI_ERR_UNCOR_STATUS, aer.PCI_ERR_COR_STATUS):
            out[0x100 + reg:0x100 + reg + 4] = b"\0\0\0\0"
    return bytes(out)


def snap(data: bytes) -> dict:
    out = health.snapshot_from_config(data)
    out.update({"present": True, "aer": {"present": True, "aer": aer.status_from_config(data), "counters": {}}})
    return out


def test_link_sizes_and_device_status_are_read_from_the_pcie_capability():
    pcie = health.snapshot_from_config(with_devsta(DUMP, 0x0005))["pcie"]
    assert pcie["max_payload"] >= 128 and pcie["max_read_request"] >= 128
    assert "link_width" in pcie and "link_speed" in pcie
    assert pcie["device_errors"] == ["Correctable Error Detected (bit 0)", "Fatal Error Detected (bit 2)"]
    assert "pcie" in health.snapshot_from_config(DUMP)["capabilities"]


def test_a_new_device_status_error_bit_fails_and_an_old_one_does_not():
    before, after = snap(with_devsta(DUMP, 0x0001)), snap(with_devsta(DUMP, 0x0009))
    assert health.new_errors(before, after) == ["device status: Unsupported Request Detected (bit 3)"]
    assert health.new_errors(after, after) == [], "a bit already set before the test is not new"
    assert health.new_errors(after, before) == [], "a bit cleared during the test is not an error"


def test_non_error_status_bits_are_ignored_and_aer_bits_count():
    quiet = snap(with_devsta(DUMP, 0x0030))   # AUX power / transactions pending: not errors
    assert health.new_errors(snap(with_devsta(DUMP, 0)), quiet) == []
    assert health.new_errors(quiet, snap(with_devsta(DUMP, 0x0030, aer_clear=False))) == [
        "uncorrectable: Poisoned TLP (bit 12)", "correctable: Receiver Error (bit 0)"]


def test_no_pcie_or_a_gone_device_is_no_verdict():
    conventional = {"present": True, "pcie": None, "aer": None}
    assert health.new_errors(conventional, conventional) == []
    gone = {"present": False, "pcie": None, "aer": None}
    assert health.new_errors(snap(with_devsta(DUMP, 0)), gone) == []
    assert health.snapshot_from_config(DUMP[:64])["pcie"] is None
