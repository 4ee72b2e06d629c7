"""Vendor and device names from the pci.ids database, read only as far as needed."""
from __future__ import annotations

import os
import re
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


# path -> ((mtime_ns, size), "\n" + the file): a long-lived agent (agent/resident.py) reads
# the ~1.3 MB once, not on every status; an update of the file changes the key.
_LOADED: Dict[str, Tuple[Tuple[int, int], str]] = {}


def _read(path: str) -> str:
    info = os.stat(path)
    key = (info.st_mtime_ns, info.st_size)
    cached = _LOADED.get(path)
    if cached is None or cached[0] != key:
        with open(path, encoding="utf-8", errors="replace") as handle:
            cached = _LOADED[path] = (key, "\n" + handle.read())
    return cached[1]


def lookup_names(root: PathLike, ids: Iterable[Tuple[str, str]]) -> Names:
    """Names for the wanted (vendor, device) pairs.

    Returns {(vendor, None): vendor name, (vendor, device): device name} for
    those found; ids are 4 lowercase hex digits (as pci.ids writes them). The file is
    searched (str.find) for each wanted vendor's line before the class section ("C ..."), and only
    that vendor's device lines are read: a line-by-line pass over all of pci.ids
    cost ~0.3 s of every `nictest status` under emulation.
    """
    wanted: Dict[str, set] = {}
    for vendor, device in ids:
        wanted.setdefault(vendor, set()).add(device)
    path = find_pci_ids(root)
    if path is None or not wanted:
        return {}
    text = _read(path)
    end = text.find("\nC ")
    end = len(text) if end == -1 else end
    names: Names = {}
    for vendor, devices in wanted.items():
        at = text.find(f"\n{vendor}  ", 0, end)
        if at == -1:
            continue
        line_end = text.find("\n", at + 1)
        line_end = len(text) if line_end == -1 else line_end
        names[(vendor, None)] = text[at + 7: line_end].strip()
        # its device lines "\tdddd  name" follow, up to the next vendor line (Intel's
        # block alone has thousands of lines: found, not walked)
        after = _NEXT_VENDOR.search(text, line_end, end)
        block_end = after.start() if after else end
        for device in devices:
            for spelled in (device.lower(), device.upper()):
                at = text.find(f"\n\t{spelled}  ", line_end, block_end)
                if at != -1:
                    stop = text.find("\n", at + 1)
                    names[(vendor, device)] = text[at + 8: stop if stop != -1 else block_end].strip()
                    break
    return names


_NEXT_VENDOR = re.compile(r"\n[^\t#\n]")  # a line that is not a device, subsystem, comment or blank
