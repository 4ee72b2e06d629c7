"""Decide whether the IOMMU isolated a device, from observations only.

A test gathers what happened (how many canary bytes changed, the kernel log delta,
the device and the IOVA it pointed DMA at) and `verdict` says pass or fail with the
reasons. It is pure (no I/O), so unit tests can prove it fails on a changed canary
or a missing fault. The descriptor status is deliberately not an input: the lab's
NIC reports a normal completion even when the IOMMU dropped the write.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, List, Optional

# DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x10100000 [fault reason 0x05] ...
# (older kernels: "[DMA Write] Request device [00:03.0] PASID ffffffff fault addr 1010000 ...")
DMAR_FAULT = re.compile(
    r"DMAR: \[DMA (?P<kind>Read|Write)[^\]]*\] Request device \[(?P<device>[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\]"
    r"(?: PASID \w+)? fault addr (?:0x)?(?P<addr>[0-9a-fA-F]+)"
    r"(?: \[fault reason (?:0x)?(?P<reason>[0-9a-fA-F]+)\])?")
# AMD-Vi: Event logged [IO_PAGE_FAULT device=00:03.0 domain=0x0001 address=0x10100000 flags=0x0020]
AMDVI_FAULT = re.compile(
    r"IO_PAGE_FAULT device=(?:[0-9a-fA-F]{4}:)?(?P<device>[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])"
    r".*?address=(?:0x)?(?P<addr>[0-9a-fA-F]+)")


@dataclass(frozen=True)
class Fault:
    device: str          # "00:03.0" (bus:slot.fn, as the IOMMU driver prints it)
    address: int         # the IOVA the device used (page-granular on some IOMMUs)
    kind: str            # "Read", "Write" or "" (unknown)
    reason: Optional[int]
    line: str


def parse_faults(lines: Iterable[str]) -> List[Fault]:
    """Every IOMMU fault line (Intel DMAR, AMD-Vi) in `lines`."""
    faults = []
    for line in lines:
        m = DMAR_FAULT.search(line)
        if m:
            faults.append(Fault(m["device"].lower(), int(m["addr"], 16), m["kind"],
                                int(m["reason"], 16) if m["reason"] else None, line.strip()))
            continue
        m = AMDVI_FAULT.search(line)
        if m:
            faults.append(Fault(m["device"].lower(), int(m["addr"], 16), "", None, line.strip()))
    return faults


def short_bdf(address: str) -> str:
    """"0000:00:03.0" -> "00:03.0" (domain 0 only is printed by the DMAR driver)."""
    parts = address.lower().split(":")
    return ":".join(parts[-2:])


PAGE = 4096


@dataclass
class Verdict:
    passed: bool
    reasons: List[str] = field(default_factory=list)
    matching: List[Fault] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def explain(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "isolated"


def verdict(canary_changed_bytes: Optional[int], fault_lines: Iterable[str], device: str, address: int,
            kind: Optional[str] = None) -> Verdict:
    """Pass only if no canary byte changed AND the kernel logged a fault for exactly `device`
    (PCI address, any form) at `address` (same 4 KiB page: IOMMUs report the faulting page or
    the exact address). `kind` ("Read"/"Write") additionally requires that access type.
    `canary_changed_bytes=None` (no canary involved, e.g. a never-mapped IOVA with nothing
    behind it) checks the fault alone."""
    want_dev = short_bdf(device)
    faults = parse_faults(fault_lines)
    matching = [f for f in faults if f.device == want_dev and f.address // PAGE == address // PAGE
                and (kind is None or not f.kind or f.kind == kind)]
    reasons = []
    if canary_changed_bytes is not None and canary_changed_bytes != 0:
        reasons.append(f"{canary_changed_bytes} canary byte(s) changed: the device wrote memory it was not given")
    if not matching:
        seen = ", ".join(f"{f.kind or '?'} {f.device} @ {f.address:#x}" for f in faults) or "none"
        reasons.append(f"no IOMMU {kind or 'DMA'} fault logged for {want_dev} at {address:#x} "
                       f"(faults in the log delta: {seen})")
    return Verdict(not reasons, reasons, matching)
