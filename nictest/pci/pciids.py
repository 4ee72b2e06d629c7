"""Vendor and device names from the pci.ids database, read only as far as needed."""
from __future__ import annotations

import os
from typing import Dict, Iterable, Optional, Tuple

from nictest.pci.sysfs import PathLike, under

PCI_IDS_PATHS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")

Names = Dict[Tuple[str, Optional[str]], str]


def find_pci_ids(root: PathLike) -> Optional[str]:
    for relative in PCI_IDS_PATHS:
        path = under(root, relative)
        if os.path.isfile(path):
            return path
    return None


def lookup_names(root: PathLike, ids: Iterable[Tuple[str, str]]) -> Names:
    """Names for the wanted (vendor, device) pairs, in one pass over pci.ids.

    Returns {(vendor, None): vendor name, (vendor, device): device name} for
    those found; ids are 4 lowercase hex digits. Only lines under wanted
    vendors are split, and the scan stops at the class section ("C ...").
    """
    wanted: Dict[str, set] = {}
    for vendor, device in ids:
        wanted.setdefault(vendor, set()).add(device)
    path = find_pci_ids(root)
    if path is None or not wanted:
        return {}
    names: Names = {}
    vendor: Optional[str] = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("\t"):
                # device line "\tdddd  name"; "\t\t" subsystem lines are skipped
                if vendor is not None and not line.startswith("\t\t"):
                    device = line[1:5].lower()
                    if device in wanted[vendor]:
                        names[(vendor, device)] = line[5:].strip()
                continue
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith("C "):
                break  # device classes follow the vendors; nothing more we need
            vendor = line[:4].lower()
            if vendor in wanted:
                names[(vendor, None)] = line[4:].strip()
            else:
                vendor = None
    return names
