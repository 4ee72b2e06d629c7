"""Which user-space driver applies to a host: the other driver's test variants are not collected.

VFIO needs an IOMMU, and on a host that has one VFIO is how a NIC goes to user space
(a uio_pci_generic device there faults on every DMA). So one driver applies per host:
vfio-pci with an IOMMU, uio_pci_generic without. The other driver's variants (and
tests on `bound_group`, which is VFIO only) are deselected rather than reported as a
skip each, unless --driver names a driver. Tests marked `iommu` stay: on a host without
an IOMMU their skip is the "isolation not provided" verdict the run must report.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

VFIO, UIO = "vfio-pci", "uio_pci_generic"
KEEP_MARKERS = ("iommu",)


def applies(driver: str, iommu: bool) -> bool:
    return driver == (VFIO if iommu else UIO)


def why_left_out(driver: str) -> str:
    if driver == UIO:
        return "host has an IOMMU, VFIO applies (use --driver uio_pci_generic --allow-uio to run them)"
    return "host has no IOMMU, which VFIO needs; uio_pci_generic applies (use --driver vfio-pci to run them)"


def _params(item) -> dict:
    return getattr(getattr(item, "callspec", None), "params", {})


def driver_of(item) -> Optional[str]:
    """The user-space driver a test binds with: its `_nictest_driver` variant, or vfio-pci
    for a test on `bound_group` (a whole IOMMU group goes to VFIO only)."""
    driver = _params(item).get("_nictest_driver")
    if driver is None and "bound_group" in getattr(item, "fixturenames", ()):
        return VFIO
    return driver


def split(items: list, iommu_of: Callable[[str], Optional[bool]]) -> Tuple[list, list, Dict[str, Dict[str, int]]]:
    """(kept, left out, {host: {driver: count}}); iommu_of(host) is None when unknown (all kept)."""
    kept, dropped, counts = [], [], {}
    for item in items:
        host, driver = _params(item).get("_nictest_host_name"), driver_of(item)
        if host and driver and not any(item.get_closest_marker(m) for m in KEEP_MARKERS):
            iommu = iommu_of(host)
            if iommu is not None and not applies(driver, iommu):
                dropped.append(item)
                per_host = counts.setdefault(host, {})
                per_host[driver] = per_host.get(driver, 0) + 1
                continue
        kept.append(item)
    return kept, dropped, counts


def merge(into: Dict[str, Dict[str, int]], counts: Dict[str, Dict[str, int]]) -> None:
    """Counts from one more collection (every xdist worker collects the same items: same counts)."""
    for host, per_driver in counts.items():
        into.setdefault(host, {}).update(per_driver)


def lines(counts: Dict[str, Dict[str, int]]) -> List[str]:
    return [f"{host}: {n} {driver} test{'s' if n != 1 else ''} left out: {why_left_out(driver)}"
            for host, per_driver in sorted(counts.items()) for driver, n in sorted(per_driver.items())]
