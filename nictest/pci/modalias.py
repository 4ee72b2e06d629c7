"""Which kernel module claims a device's modalias (for devices bound to no driver)."""
from __future__ import annotations

import fnmatch
import re
from typing import List, Optional, Pattern, Tuple

from nictest.pci.sysfs import PathLike, read_text, read_whole, under


def load_pci_aliases(root: PathLike) -> List[Tuple[Pattern[str], str]]:
    """(compiled glob, module) for each `alias pci:...` line of the running kernel's modules.alias."""
    release = read_text(under(root, "proc/sys/kernel/osrelease"))
    if not release:
        return []
    text = read_whole(under(root, "lib/modules", release, "modules.alias"))
    aliases = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "alias" and fields[1].startswith("pci:"):
            aliases.append((re.compile(fnmatch.translate(fields[1])), fields[2]))
    return aliases


def module_for(modalias: Optional[str], aliases: List[Tuple[Pattern[str], str]]) -> Optional[str]:
    if not modalias:
        return None
    for pattern, module in aliases:
        if pattern.match(modalias):
            return module
    return None

