"""Which kernel module claims a device's modalias (for devices bound to no driver)."""
from __future__ import annotations

import fnmatch
import os
from typing import Dict, List, Optional, Tuple

from nictest.pci.sysfs import PathLike, read_text, read_whole, under


class PciAliases:
    """The running kernel's `alias pci:...` lines of modules.alias, looked up by vendor.

    A kernel has ~9000 of them: splitting every line, or compiling every glob, cost
    from a second to over a minute under emulation. Only the lines whose vendor field
    is the device's vendor or a wildcard can match; str.find picks those out and they
    are kept in file order, the order modprobe tries them.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._by_vendor: Dict[str, List[Tuple[str, str]]] = {}
        self.resolved: Dict[str, Optional[str]] = {}  # modalias -> module, for module_for

    def candidates(self, vendor: str) -> List[Tuple[str, str]]:
        """(glob, module) of the lines that may match a modalias with this vendor field
        (8 hex digits, as in "pci:v00008086d..."; modules.alias writes them upper case)."""
        key = vendor.upper()
        if key not in self._by_vendor:
            starts = sorted(self._line_starts(f"alias pci:v{key}") + self._line_starts("alias pci:v*"))
            found = []
            for at in starts:
                end = self._text.find("\n", at)
                fields = self._text[at: end if end != -1 else len(self._text)].split()
                if len(fields) == 3:
                    found.append((fields[1].upper(), fields[2]))
            self._by_vendor[key] = found
        return self._by_vendor[key]

    def _line_starts(self, prefix: str) -> List[int]:
        """Where the lines beginning with `prefix` start (str.find: a regex anchored at
        every line start took seconds under emulation)."""
        text, hits, at = self._text, [], 0
        if text.startswith(prefix):
            hits.append(0)
        while True:
            at = text.find("\n" + prefix, at)
            if at == -1:
                return hits
            at += 1
            hits.append(at)


# path -> ((mtime_ns, size), aliases): a long-lived agent (agent/resident.py) reads and
# indexes the file once, not on every status; a depmod run changes the key.
_LOADED: Dict[str, Tuple[Tuple[int, int], PciAliases]] = {}


def load_pci_aliases(root: PathLike) -> PciAliases:
    """The modules.alias of the running kernel (empty when there is none)."""
    release = read_text(under(root, "proc/sys/kernel/osrelease"))
    if not release:
        return PciAliases("")
    path = under(root, "lib/modules", release, "modules.alias")
    try:
        info = os.stat(path)
    except OSError:
        return PciAliases("")
    key = (info.st_mtime_ns, info.st_size)
    cached = _LOADED.get(path)
    if cached is None or cached[0] != key:
        cached = _LOADED[path] = (key, PciAliases(read_whole(path) or ""))
    return cached[1]


def module_for(modalias: Optional[str], aliases: PciAliases) -> Optional[str]:
    """The first module whose alias glob matches, as modprobe would pick it."""
    if not modalias or not modalias.lower().startswith("pci:v") or len(modalias) < 13:
        return None
    target = modalias.upper()
    if target not in aliases.resolved:
        aliases.resolved[target] = _first_match(target, aliases)
    return aliases.resolved[target]


def _first_match(target: str, aliases: PciAliases) -> Optional[str]:
    for pattern, module in aliases.candidates(target[5:13]):
        # Most globs fix vendor and device: a prefix test rules them out before fnmatch
        # compiles them (thousands of compiles took seconds under emulation).
        if target.startswith(_literal_prefix(pattern)) and fnmatch.fnmatchcase(target, pattern):
            return module
    return None


def _literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard."""
    cut = len(pattern)
    for wildcard in "*?[":
        at = pattern.find(wildcard)
        if at != -1:
            cut = min(cut, at)
    return pattern[:cut]
