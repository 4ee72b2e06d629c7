"""Compare a device's config-space facts (the agent's `pci_config`) with a profile.

Each difference is one Mismatch naming the profile entry ("capabilities.msix.table_size"),
what the profile says and what the device has. Sections let a suite assert ids,
BARs, capabilities and reset methods separately, so one wrong claim fails one test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from nictest.models.loader import Profile

# Reset methods that depend on where the device sits, not on the model: "bus" is a
# secondary bus reset of the parent bridge (only when the device is alone below it).
SLOT_RESET_METHODS = ("bus", "cxl_bus")
SECTIONS = ("ids", "bars", "capabilities", "reset_methods", "config")
ABSENT = "(absent)"


@dataclass(frozen=True)
class Mismatch:
    section: str
    entry: str  # the profile key path
    expected: Any
    actual: Any

    def message(self, profile_path: str, address: str) -> str:
        return (f"{profile_path}: {self.entry}: the profile says {_show(self.expected)}, "
                f"device {address} has {_show(self.actual)}")


def _show(value: Any) -> str:
    return value if value == ABSENT else repr(value)


def check(profile: Profile, facts: Dict[str, Any]) -> List[Mismatch]:
    data = profile.data
    out: List[Mismatch] = []
    for key, expected in data["ids"].items():
        if facts.get(key) != expected:
            out.append(Mismatch("ids", f"ids.{key}", expected, facts.get(key)))
    out += _check_bars(data, facts)
    out += _check_capabilities(data["capabilities"], facts)
    out += _check_resets(data["reset_methods"], facts.get("reset_methods") or [])
    for problem in facts.get("problems") or []:
        out.append(Mismatch("config", "(config space)", "a well-formed config space", problem))
    return out


def _check_bars(data: Dict[str, Any], facts: Dict[str, Any]) -> List[Mismatch]:
    out = []
    device = {bar["index"]: bar for bar in facts.get("bars") or []}
    for i, bar in enumerate(data["bars"]):
        have = device.pop(bar["index"], None)
        entry = f"bars[{i}] (BAR {bar['index']})"
        if have is None:
            out.append(Mismatch("bars", entry, f"{bar['type']} of {bar['size']} bytes", ABSENT))
            continue
        for field in ("size", "type", "prefetchable"):
            if have.get(field) != bar[field]:
                out.append(Mismatch("bars", f"{entry}.{field}", bar[field], have.get(field)))
    for index, have in sorted(device.items()):
        out.append(Mismatch("bars", f"bars (BAR {index})", ABSENT, f"{have['type']} of {have['size']} bytes"))
    rom, have_rom = data.get("expansion_rom"), facts.get("expansion_rom")
    if (rom or {}).get("size") != (have_rom or {}).get("size"):
        out.append(Mismatch("bars", "expansion_rom.size", (rom or {}).get("size", ABSENT),
                            (have_rom or {}).get("size", ABSENT)))
    return out


def device_capabilities(facts: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{name: fields} of every standard and extended capability the walker found."""
    caps: Dict[str, Dict[str, Any]] = {}
    for cap in list(facts.get("capabilities") or []) + list(facts.get("extended_capabilities") or []):
        caps.setdefault(cap["name"], cap)
    return caps


def _check_capabilities(expected: Dict[str, Dict[str, Any]], facts: Dict[str, Any]) -> List[Mismatch]:
    out = []
    device = device_capabilities(facts)
    for name, fields in expected.items():
        have = device.get(name)
        if have is None:
            out.append(Mismatch("capabilities", f"capabilities.{name}", "present", ABSENT))
            continue
        for field, value in fields.items():
            if have.get(field, ABSENT) != value:
                out.append(Mismatch("capabilities", f"capabilities.{name}.{field}", value, have.get(field, ABSENT)))
    for name in device:
        if name not in expected:
            out.append(Mismatch("capabilities", f"capabilities.{name}", ABSENT, "present"))
    sriov = expected.get("sriov")
    if sriov is not None and "sriov" in device:
        # The kernel's sriov_totalvfs is the config value, or lower when the driver limits it (igb: 7 of 8).
        kernel = facts.get("sriov_totalvfs")
        total = device["sriov"].get("total_vfs")
        if not isinstance(kernel, int) or not 0 < kernel <= (total or 0):
            out.append(Mismatch("capabilities", "capabilities.sriov (sysfs sriov_totalvfs)",
                                f"1..{total} VFs the kernel can enable", kernel))
    return out


def _check_resets(expected: List[str], actual: List[str]) -> List[Mismatch]:
    out = []
    for method in expected:
        if method not in actual:
            out.append(Mismatch("reset_methods", f"reset_methods ({method})", "listed", ABSENT))
    for method in actual:
        if method not in expected and method not in SLOT_RESET_METHODS:
            out.append(Mismatch("reset_methods", f"reset_methods ({method})", ABSENT, "listed"))
    return out
