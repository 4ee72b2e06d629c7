"""Which kernel module claims a device's modalias (for devices bound to no driver)."""
from __future__ import annotations

import fnmatch
from typing import List, Optional, Tuple

from nictest.pci.sysfs import PathLike, read_text, read_whole, under


def load_pci_aliases(root: PathLike) -> List[Tuple[str, str]]:
    """(glob, module) for each `alias pci:...` line of the running kernel's modules.alias.

    Globs stay uncompiled: a kernel has ~9000 of them, and compiling them all
    took over a minute under emulation; module_for only compiles the few whose
    vendor part can match.
    """
    release = read_text(under(root, "proc/sys/kernel/osrelease"))
    if not release:
        return []
    text = read_whole(under(root, "lib/modules", release, "modules.alias"))
    aliases = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "alias" and fields[1].startswith("pci:"):
            aliases.append((fields[1], fields[2]))
    return aliases


def _literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard."""
    cut = len(pattern)
    for wildcard in "*?[":
        at = pattern.find(wildcard)
        if at != -1:
            cut = min(cut, at)
    return pattern[:cut]


def module_for(modalias: Optional[str], aliases: List[Tuple[str, str]]) -> Optional[str]:
    if not modalias:
        return None
    target = modalias.upper()
    for pattern, module in aliases:
        pattern = pattern.upper()
        # Most globs fix vendor and device: a prefix test rules them out cheaply.
        if target.startswith(_literal_prefix(pattern)) and fnmatch.fnmatchcase(target, pattern):
            return module
    return None
