"""PCIe health of one function: its link, its payload / read request sizes, the error bits of
its PCI Express capability's Device Status, and its AER snapshot; what is new between two.

Read-only, from the sysfs `config` file a register at a time (ConfigFile). Offsets and bits
follow the PCI Express Base specification (7.5.3; Linux pci_regs.h names them PCI_EXP_DEVCTL,
PCI_EXP_DEVSTA, PCI_EXP_LNKSTA). A function without a PCI Express capability has no
`pcie` entry (a conventional PCI NIC): its callers skip the PCIe checks for it.
Standard library only: it runs in the agent.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from nictest.pci import aer
from nictest.pci.address import PciAddress
from nictest.pci.capabilities import LINK_SPEEDS, ConfigFile, _Config, walk_extended, walk_standard
from nictest.pci.sysfs import PathLike, under

PCI_CAP_ID_EXP = 0x10
PCI_EXP_DEVCTL = 0x08
PCI_EXP_DEVCTL_PAYLOAD_SHIFT = 5
PCI_EXP_DEVCTL_READRQ_SHIFT = 12
PCI_EXP_DEVSTA = 0x0A
PCI_EXP_LNKSTA = 0x12
# Device Status error bits (RW1C): set by the function whether or not AER reports them.
DEVSTA_ERROR_BITS = {0: "Correctable Error Detected", 1: "Non-Fatal Error Detected",
                     2: "Fatal Error Detected", 3: "Unsupported Request Detected"}
DEVSTA_ERROR_MASK = 0x0F


def pcie_status(cfg: _Config, caps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Negotiated link, max payload / read request (Device Control) and Device Status error bits."""
    at = next((c["offset"] for c in caps if c["id"] == PCI_CAP_ID_EXP), None)
    if at is None:
        return None
    devctl, devsta, lnksta = cfg.u16(at + PCI_EXP_DEVCTL), cfg.u16(at + PCI_EXP_DEVSTA), cfg.u16(at + PCI_EXP_LNKSTA)
    if devctl is None or devsta is None:
        return None
    out: Dict[str, Any] = {
        "max_payload": 128 << ((devctl >> PCI_EXP_DEVCTL_PAYLOAD_SHIFT) & 0x7),
        "max_read_request": 128 << ((devctl >> PCI_EXP_DEVCTL_READRQ_SHIFT) & 0x7),
        "device_status": devsta,
        "device_errors": aer.bit_names(devsta & DEVSTA_ERROR_MASK, DEVSTA_ERROR_BITS),
    }
    if lnksta is not None:
        out["link_speed"] = LINK_SPEEDS.get(lnksta & 0xF, f"code {lnksta & 0xF}")
        out["link_width"] = (lnksta >> 4) & 0x3F
    return out


def _read(cfg: _Config) -> Dict[str, Any]:
    problems: List[str] = []
    caps = walk_standard(cfg, problems)
    extended = walk_extended(cfg, problems)
    return {"capabilities": [c["name"] for c in caps], "extended_capabilities": [c["name"] for c in extended],
            "problems": problems, "pcie": pcie_status(cfg, caps)}


def snapshot(root: PathLike, address: str) -> Dict[str, Any]:
    """{address, present, capabilities, extended_capabilities, problems, pcie (or None), aer}."""
    bdf = str(PciAddress.parse(address))
    path = f"{under(root, 'sys/bus/pci/devices', bdf)}/config"
    try:
        with ConfigFile(path) as cfg:
            out = _read(cfg)
    except FileNotFoundError:
        return {"address": bdf, "present": False, "pcie": None, "aer": None}
    out.update({"address": bdf, "present": True, "aer": aer.snapshot(root, address)})
    return out


def snapshot_from_config(data: bytes) -> Dict[str, Any]:
    """The same over a config-space dump (a recording; the unit tests)."""
    return _read(_Config(data))


def new_device_errors(before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """Device Status error bits clear before and set after, named; [] when none (or no PCIe)."""
    b, a = before.get("pcie") or {}, after.get("pcie") or {}
    if "device_status" not in a:
        return []
    fresh = a["device_status"] & ~b.get("device_status", 0) & DEVSTA_ERROR_MASK
    return [f"device status: {name}" for name in aer.bit_names(fresh, DEVSTA_ERROR_BITS)]


def new_errors(before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    """Every new Device Status error bit and every new AER error (nictest.pci.aer.new_errors)."""
    if not before.get("present", True) or not after.get("present", True):
        return []   # a device gone is not an error verdict (its removal is reported elsewhere)
    return new_device_errors(before, after) + aer.new_errors(before.get("aer") or {}, after.get("aer") or {})
