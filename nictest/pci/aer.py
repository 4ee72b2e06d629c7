"""PCIe Advanced Error Reporting of one function: what it logged, and what is new since.

Two independent sources, both read-only:
- the AER extended capability's Uncorrectable and Correctable Error Status
  registers (PCIe Base Spec 7.8.4.2 / 7.8.4.5; sticky RW1C bits the device sets
  whether or not anyone handles the error: under QEMU's `pcie_aer_inject_error`
  they are set even when the kernel's AER driver never hears of it);
- the kernel's AER counters in sysfs (aer_dev_correctable, aer_dev_nonfatal,
  aer_dev_fatal: "<name> <count>" lines), which count errors the AER driver
  handled, also after it cleared the status bits.

`snapshot` reads both; `new_errors(before, after)` names every status bit that
was clear and is set, and every counter that grew. Nothing here is specific to
a lab or a NIC model (issue 13's "PCIe health" reads the same snapshot).
Standard library only: it runs in the agent.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from nictest.pci.address import PciAddress
from nictest.pci.capabilities import ConfigFile, _Config, walk_extended
from nictest.pci.sysfs import PathLike, read_text, under

PCI_EXT_CAP_ID_ERR = 0x0001
PCI_ERR_UNCOR_STATUS = 0x04
PCI_ERR_COR_STATUS = 0x10

# Bit -> name, as the spec (and linux/pci_regs.h PCI_ERR_UNC_* / PCI_ERR_COR_*) names them.
UNCORRECTABLE_BITS = {
    4: "Data Link Protocol Error", 5: "Surprise Down Error", 12: "Poisoned TLP", 13: "Flow Control Protocol Error",
    14: "Completion Timeout", 15: "Completer Abort", 16: "Unexpected Completion", 17: "Receiver Overflow",
    18: "Malformed TLP", 19: "ECRC Error", 20: "Unsupported Request", 21: "ACS Violation",
    22: "Uncorrectable Internal Error", 23: "MC Blocked TLP", 24: "AtomicOp Egress Blocked",
    25: "TLP Prefix Blocked", 26: "Poisoned TLP Egress Blocked",
}
CORRECTABLE_BITS = {
    0: "Receiver Error", 6: "Bad TLP", 7: "Bad DLLP", 8: "REPLAY_NUM Rollover", 12: "Replay Timer Timeout",
    13: "Advisory Non-Fatal Error", 14: "Corrected Internal Error", 15: "Header Log Overflow",
}
COUNTER_FILES = {"correctable": "aer_dev_correctable", "nonfatal": "aer_dev_nonfatal", "fatal": "aer_dev_fatal"}


def bit_names(value: int, names: Dict[int, str]) -> List[str]:
    return [f"{names.get(bit, 'reserved')} (bit {bit})" for bit in range(32) if value >> bit & 1]


def _counters(text: Optional[str]) -> Dict[str, int]:
    counts = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def _status(offset: int, uncor: int, cor: int) -> Dict[str, Any]:
    return {"offset": offset, "uncorrectable": uncor, "correctable": cor,
            "uncorrectable_errors": bit_names(uncor, UNCORRECTABLE_BITS),
            "correctable_errors": bit_names(cor, CORRECTABLE_BITS)}


def status_from_config(data: bytes) -> Optional[Dict[str, Any]]:
    """The AER status registers in a config-space dump; None when the function has no AER capability."""
    return _status_in(_Config(data))


def _status_in(cfg: _Config) -> Optional[Dict[str, Any]]:
    for cap in walk_extended(cfg, []):
        if cap["id"] == PCI_EXT_CAP_ID_ERR:
            uncor = cfg.u32(cap["offset"] + PCI_ERR_UNCOR_STATUS)
            cor = cfg.u32(cap["offset"] + PCI_ERR_COR_STATUS)
            return None if uncor is None or cor is None else _status(cap["offset"], uncor, cor)
    return None


def _read_status(path: str) -> Optional[Dict[str, Any]]:
    """The same, read from the device's config file a register at a time (ConfigFile), not the
    whole 4 KiB: every config read traps on a VM (85 ms per whole-file snapshot in the lab)."""
    with ConfigFile(path) as cfg:
        return _status_in(cfg)


def snapshot(root: PathLike, address: str) -> Dict[str, Any]:
    """{address, present, aer (status registers or None), counters {kind: {name: count}}}."""
    bdf = str(PciAddress.parse(address))
    base = under(root, "sys/bus/pci/devices", bdf)
    try:
        status = _read_status(f"{base}/config")
    except FileNotFoundError:
        return {"address": bdf, "present": False, "aer": None, "counters": {}}
    counters = {}
    for kind, name in COUNTER_FILES.items():
        text = read_text(f"{base}/{name}")
        if text is not None:
            counters[kind] = _counters(text)
    return {"address": bdf, "present": True, "aer": status, "counters": counters}


def new_errors(before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """Every error logged between the two snapshots, named; [] when none."""
    found = []
    b, a = before.get("aer") or {}, after.get("aer") or {}
    for key, names in (("uncorrectable", UNCORRECTABLE_BITS), ("correctable", CORRECTABLE_BITS)):
        if key in a:
            fresh = a[key] & ~b.get(key, 0)
            found += [f"{key}: {name}" for name in bit_names(fresh, names)]
    for kind, counts in (after.get("counters") or {}).items():
        old = (before.get("counters") or {}).get(kind, {})
        for name, count in counts.items():
            if name.startswith("TOTAL_"):
                continue  # the sum of the others
            if count > old.get(name, 0):
                found.append(f"kernel AER counter {kind}/{name} +{count - old.get(name, 0)}")
    return found
