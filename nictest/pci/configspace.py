"""A device's config-space facts from sysfs: the walked `config` plus what the kernel adds.

Read-only. `config` is read with one read() (root sees 256 or 4096 bytes; others
only the 64-byte header, which walk() reports as a problem). BAR sizes come from
`resource` (the kernel sized them at enumeration); the BAR registers in config
say whether each is io, mem32 or mem64 and prefetchable.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from nictest.errors import DeviceNotFound
from nictest.pci.address import PciAddress
from nictest.pci.bars import IORESOURCE_IO, IORESOURCE_MEM_64, IORESOURCE_PREFETCH, parse_resource
from nictest.pci.capabilities import PCI_CFG_SPACE_EXP_SIZE, walk
from nictest.pci.sysfs import PathLike, read_int, read_text, under


def read_config(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(PCI_CFG_SPACE_EXP_SIZE)


def _bar_type(flags: int) -> str:
    if flags & IORESOURCE_IO:
        return "io"
    return "mem64" if flags & IORESOURCE_MEM_64 else "mem32"


def merge_bars(resource_text: Optional[str], registers: List[Dict[str, Any]]) -> Dict[str, Any]:
    """BARs (index, size, type, prefetchable) and the expansion ROM, from `resource` + config.

    When config and `resource` disagree on a BAR's type, both are kept and the
    disagreement becomes a problem (a kernel quirk or a broken device).
    """
    from_config = {reg["index"]: reg for reg in registers}
    bars, rom, problems = [], None, []
    for bar in parse_resource(resource_text or ""):
        if bar.is_rom:
            rom = {"size": bar.size}
            continue
        entry = {"index": bar.index, "size": bar.size, "type": _bar_type(bar.flags),
                 "prefetchable": bool(bar.flags & IORESOURCE_PREFETCH)}
        reg = from_config.get(bar.index)
        if reg is not None and (reg["type"], reg["prefetchable"]) != (entry["type"], entry["prefetchable"]):
            problems.append(f"BAR {bar.index}: config says {reg['type']} prefetchable={reg['prefetchable']}, "
                            f"sysfs resource says {entry['type']} prefetchable={entry['prefetchable']}")
        bars.append(entry)
    return {"bars": bars, "expansion_rom": rom, "problems": problems}


def device_config(root: PathLike, address: str) -> Dict[str, Any]:
    """The walked config space of `address` plus sysfs's reset_method, SR-IOV and NUMA facts."""
    bdf = str(PciAddress.parse(address))
    base = under(root, "sys/bus/pci/devices", bdf)
    try:
        data = read_config(f"{base}/config")
    except FileNotFoundError:
        raise DeviceNotFound(f"no PCI device {bdf} on this host: `nictest status` lists them") from None
    facts = walk(data)
    if os.path.exists(f"{base}/physfn"):
        # A VF's Vendor and Device ID registers read ffff (SR-IOV spec 3.4.1.1-2): its IDs are the
        # PF's vendor and the PF's VF Device ID, which the kernel shows in sysfs.
        for key in ("vendor", "device"):
            text = read_text(f"{base}/{key}")
            if text:
                facts[key] = f"{int(text, 16):04x}"
        facts["physfn"] = os.path.basename(os.path.realpath(f"{base}/physfn"))
    bars = merge_bars(read_text(f"{base}/resource"), facts.pop("bar_registers"))
    facts["problems"] += bars.pop("problems")
    facts.update(bars)
    methods = read_text(f"{base}/reset_method")
    facts.update({
        "address": bdf,
        "reset_methods": methods.split() if methods else [],  # absent: the kernel knows no reset method
        "sriov_totalvfs": read_int(f"{base}/sriov_totalvfs"),  # the kernel driver may lower the config value
        "sriov_numvfs": read_int(f"{base}/sriov_numvfs"),
        "numa_node": read_int(f"{base}/numa_node"),
    })
    return facts
