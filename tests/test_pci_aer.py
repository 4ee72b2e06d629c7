"""nictest.pci.aer and the guard's verdict, on an 82576's config space as QEMU gives it after
`pcie_aer_inject_error` of a Poisoned TLP and a Receiver Error (dumped in lab-igb2)."""
from __future__ import annotations

from pathlib import Path

from fakesysfs import FakeSysfs
from fixtures.aer import aer_problems
from nictest.pci import aer

DUMP = (Path(__file__).parent / "data/igb-config-aer-set.bin").read_bytes()
NIC = "0000:02:00.0"


def cleared(data: bytes) -> bytes:
    """The same config space with both AER status registers clear (as before the injection)."""
    out = bytearray(data)
    for reg in (aer.PCI_ERR_UNCOR_STATUS, aer.PCI_ERR_COR_STATUS):
        out[0x100 + reg:0x100 + reg + 4] = b"\0\0\0\0"
    return bytes(out)


def test_status_bits_are_named_from_the_aer_capability():
    status = aer.status_from_config(DUMP)
    assert status["offset"] == 0x100
    assert status["uncorrectable_errors"] == ["Poisoned TLP (bit 12)"]
    assert status["correctable_errors"] == ["Receiver Error (bit 0)"]
    assert aer.status_from_config(DUMP[:256]) is None, "a 256-byte config (no extended space) has no AER"


def test_only_bits_set_since_the_first_snapshot_count():
    before = {"present": True, "aer": aer.status_from_config(cleared(DUMP)), "counters": {}}
    after = {"present": True, "aer": aer.status_from_config(DUMP), "counters": {}}
    assert aer_problems(before, after) == ["uncorrectable: Poisoned TLP (bit 12)",
                                           "correctable: Receiver Error (bit 0)"]
    assert aer_problems(after, after) == [], "a bit already set before the test is not a new error"


def test_kernel_counters_that_grew_count_and_a_gone_device_is_no_verdict():
    before = {"present": True, "aer": None, "counters": {"nonfatal": {"TLP": 0, "TOTAL_ERR_NONFATAL": 0}}}
    after = {"present": True, "aer": None, "counters": {"nonfatal": {"TLP": 2, "TOTAL_ERR_NONFATAL": 2}}}
    assert aer_problems(before, after) == ["kernel AER counter nonfatal/TLP +2"]
    assert aer_problems(before, {"present": False, "aer": None, "counters": {}}) == []


def test_snapshot_reads_config_and_sysfs_counters(tmp_path):
    fake = FakeSysfs(tmp_path)
    fake.add_pci(NIC, driver="igb", module="igb", iommu_group=8)
    device = Path(tmp_path / "sys/bus/pci/devices" / NIC).resolve()
    (device / "config").write_bytes(DUMP)
    (device / "aer_dev_correctable").write_text("RxErr 1\nBadTLP 0\nTOTAL_ERR_COR 1\n")
    snap = aer.snapshot(tmp_path, NIC)
    assert snap["present"] and snap["aer"]["uncorrectable"] == 1 << 12
    assert snap["counters"] == {"correctable": {"RxErr": 1, "BadTLP": 0, "TOTAL_ERR_COR": 1}}
    assert aer.snapshot(tmp_path, "0000:09:00.0")["present"] is False
