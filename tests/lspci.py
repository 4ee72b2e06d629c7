"""Read `lspci -vvv -nn -s BDF` output: an independent reading of a device to check the walker.

Test-only on purpose: nictest itself never parses lspci (its walker reads sysfs
`config`); tests compare the two. Only what both can state is read: BARs, ROM,
and each capability's offset, name (mapped to the walker's names) and key fields.
"""
from __future__ import annotations

import re
from typing import Any, Dict

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
# lspci's capability titles (lib/ls-caps.c, ls-ecaps.c) -> the walker's names
TITLES = (
    ("Power Management", "pm"), ("MSI-X", "msix"), ("MSI", "msi"), ("Express", "pcie"),
    ("Vital Product Data", "vpd"), ("PCI-X", "pcix"), ("Vendor Specific", "vendor_specific"),
    ("Advanced Error Reporting", "aer"), ("Alternative Routing-ID", "ari"),
    ("Single Root I/O Virtualization", "sriov"), ("Device Serial Number", "dsn"),
    ("Access Control Services", "acs"), ("Latency Tolerance", "ltr"), ("Address Translation", "ats"),
)

_REGION = re.compile(r"^\tRegion (\d): (Memory|I/O ports) at \S+ (?:\((32|64)-bit, (non-)?prefetchable\) )?"
                     r"(?:\[\w+\] )?\[size=(\d+)([KMG]?)\]")
_ROM = re.compile(r"^\tExpansion ROM at \S+ (?:\[\w+\] )?\[size=(\d+)([KMG]?)\]")
_IDS = re.compile(r"^\S+ .*\[([0-9a-f]{4}):([0-9a-f]{4})\](?: \(rev ([0-9a-f]{2})\))?$")
_SUBSYSTEM = re.compile(r"^\tSubsystem: .*\[([0-9a-f]{4}):([0-9a-f]{4})\]$")
_CAP = re.compile(r"^\tCapabilities: \[([0-9a-f]+)(?: v(\d+))?\] (.*)$")


def _size(number: str, unit: str) -> int:
    return int(number) * SIZE_UNITS[unit]


def _name(title: str) -> str:
    for prefix, name in TITLES:
        if title.startswith(prefix):
            return name
    return "unknown:" + title


def parse(text: str) -> Dict[str, Any]:
    bars, rom, caps, ids = {}, None, {}, {}
    current = None
    for line in text.splitlines():
        m = _IDS.match(line) if not ids else None
        if m:
            ids = {"vendor": m.group(1), "device": m.group(2), "revision": m.group(3) or "00"}
            continue
        m = _SUBSYSTEM.match(line)
        if m:
            ids.update(subsystem_vendor=m.group(1), subsystem_device=m.group(2))
            continue
        m = _REGION.match(line)
        if m:
            index, space, width, nonpf, number, unit = m.groups()
            kind = "io" if space == "I/O ports" else f"mem{width}"
            bars[int(index)] = {"size": _size(number, unit), "type": kind,
                                "prefetchable": kind != "io" and nonpf is None}
            continue
        m = _ROM.match(line)
        if m:
            rom = _size(*m.groups())
            continue
        m = _CAP.match(line)
        if m:
            offset, version, title = int(m.group(1), 16), m.group(2), m.group(3)
            current = {"name": _name(title), "title": title}
            if version is not None:
                current["version"] = int(version)
            _title_fields(current, title)
            caps[offset] = current
            continue
        if current is not None and line.startswith("\t\t"):
            _detail_fields(current, line.strip())
        elif not line.startswith("\t\t"):
            current = None
    return {"ids": ids, "bars": bars, "rom": rom, "capabilities": caps}


def _title_fields(cap: Dict[str, Any], title: str) -> None:
    if cap["name"] == "pm":
        cap["version"] = int(re.search(r"version (\d+)", title).group(1))
    elif cap["name"] == "msi":
        m = re.search(r"Count=\d+/(\d+) Maskable([+-]) 64bit([+-])", title)
        cap.update(vectors=int(m.group(1)), maskable=m.group(2) == "+", addr64=m.group(3) == "+")
    elif cap["name"] == "msix":
        cap["table_size"] = int(re.search(r"Count=(\d+)", title).group(1))
    elif cap["name"] == "pcie":
        cap["version"] = int(re.search(r"\(v(\d+)\)", title).group(1))


def _detail_fields(cap: Dict[str, Any], line: str) -> None:
    if cap["name"] == "msix":
        m = re.match(r"(Vector table|PBA): BAR=(\d) offset=([0-9a-f]+)", line)
        if m:
            prefix = "table" if m.group(1) == "Vector table" else "pba"
            cap[f"{prefix}_bar"], cap[f"{prefix}_offset"] = int(m.group(2)), int(m.group(3), 16)
    elif cap["name"] == "pcie" and "FLReset" in line and "flr" not in cap:
        cap["flr"] = "FLReset+" in line  # the first FLReset is DevCap's; DevCtl's comes later
    elif cap["name"] == "sriov":
        m = re.match(r"Initial VFs: (\d+), Total VFs: (\d+), Number of VFs: (\d+)", line)
        if m:
            cap.update(initial_vfs=int(m.group(1)), total_vfs=int(m.group(2)), num_vfs=int(m.group(3)))
        m = re.match(r"VF offset: (\d+), stride: (\d+), Device ID: ([0-9a-f]{4})", line)
        if m:
            cap.update(vf_offset=int(m.group(1)), vf_stride=int(m.group(2)), vf_device=m.group(3))


def disagreements(lspci: Dict[str, Any], facts: Dict[str, Any]) -> list:
    """Where lspci and the walker's facts (pci_config) differ, as readable lines."""
    out = []
    walker_ids = {key: facts.get(key) for key in lspci["ids"]}
    if walker_ids != lspci["ids"]:
        out.append(f"IDs: walker {walker_ids}, lspci {lspci['ids']}")
    walker_bars = {b["index"]: {k: b[k] for k in ("size", "type", "prefetchable")} for b in facts["bars"]}
    if walker_bars != lspci["bars"]:
        out.append(f"BARs: walker {walker_bars}, lspci {lspci['bars']}")
    walker_rom = (facts.get("expansion_rom") or {}).get("size")
    if walker_rom != lspci["rom"]:
        out.append(f"expansion ROM: walker {walker_rom}, lspci {lspci['rom']}")
    walked = {c["offset"]: c for c in facts["capabilities"] + facts["extended_capabilities"]}
    for offset in sorted(set(walked) | set(lspci["capabilities"])):
        mine, theirs = walked.get(offset), lspci["capabilities"].get(offset)
        if mine is None or theirs is None:
            out.append(f"capability at 0x{offset:x}: walker {mine and mine['name']}, lspci {theirs and theirs['title']}")
            continue
        if mine["name"] != theirs["name"]:
            out.append(f"capability at 0x{offset:x}: walker {mine['name']}, lspci {theirs['title']}")
        for field, value in theirs.items():
            if field not in ("name", "title") and mine.get(field) != value:
                out.append(f"{mine['name']} at 0x{offset:x}: {field} walker {mine.get(field)!r}, lspci {value!r}")
    return out
