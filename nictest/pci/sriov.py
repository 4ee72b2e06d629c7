"""SR-IOV as sysfs shows it: a physical function's VF counts, and which VFs it has.

The kernel exposes the PF's SR-IOV capability as `sriov_*` attributes (totalvfs,
numvfs, offset, stride, vf_device, drivers_autoprobe) and each VF it created as a
`virtfn<N>` link; a VF links back to its PF as `physfn`. VF N's routing ID is the
PF's plus First VF Offset plus N x VF Stride (PCIe SR-IOV spec, 3.3.9-10), so the
addresses VFs will get are known before they exist — the journal records them first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from nictest.pci.address import PciAddress
from nictest.pci.sysfs import PathLike, link_name, list_dir, read_int, read_text, under

PCI_DEVICES = "sys/bus/pci/devices"
_VIRTFN = re.compile(r"^virtfn(\d+)$")


@dataclass(frozen=True)
class SriovState:
    """A PF's SR-IOV attributes now; `vfs` are the existing VFs' addresses, in VF order."""

    pf: str
    total_vfs: int
    num_vfs: int
    offset: int
    stride: int
    vf_device: Optional[str]
    drivers_autoprobe: Optional[bool]
    vfs: Tuple[str, ...]

    def vf_addresses(self, count: int) -> List[str]:
        """The addresses VFs 0..count-1 get when `count` VFs are enabled."""
        return vf_addresses(self.pf, self.offset, self.stride, count)

    def to_dict(self) -> dict:
        return {"pf": self.pf, "total_vfs": self.total_vfs, "num_vfs": self.num_vfs, "offset": self.offset,
                "stride": self.stride, "vf_device": self.vf_device, "drivers_autoprobe": self.drivers_autoprobe,
                "vfs": list(self.vfs)}


def read_sriov(root: PathLike, address: str) -> Optional[SriovState]:
    """The PF's SR-IOV state, or None when the device has no SR-IOV capability (no sriov_totalvfs)."""
    name = str(PciAddress.parse(address))
    base = under(root, PCI_DEVICES, name)
    total = read_int(f"{base}/sriov_totalvfs")
    if total is None:
        return None
    autoprobe = read_text(f"{base}/sriov_drivers_autoprobe")
    return SriovState(pf=name, total_vfs=total, num_vfs=read_int(f"{base}/sriov_numvfs") or 0,
                      offset=read_int(f"{base}/sriov_offset") or 0, stride=read_int(f"{base}/sriov_stride") or 0,
                      vf_device=read_text(f"{base}/sriov_vf_device"),
                      drivers_autoprobe=None if autoprobe is None else autoprobe == "1",
                      vfs=tuple(virtfns(root, name)))


def virtfns(root: PathLike, pf: str) -> List[str]:
    """The VFs the PF has now (its virtfn<N> links), in VF order."""
    base = under(root, PCI_DEVICES, str(PciAddress.parse(pf)))
    found = []
    for entry in list_dir(base):
        match = _VIRTFN.match(entry)
        target = link_name(f"{base}/{entry}") if match else None
        if target:
            found.append((int(match.group(1)), target))
    return [address for _, address in sorted(found)]


def physfn(root: PathLike, address: str) -> Optional[str]:
    """The PF of a VF (its physfn link), or None for a device that is not a VF."""
    return link_name(under(root, PCI_DEVICES, str(PciAddress.parse(address)), "physfn"))


def vf_addresses(pf: str, offset: int, stride: int, count: int) -> List[str]:
    """VF i's address: routing ID (bus << 8 | devfn) of the PF + offset + i x stride, same domain."""
    parsed = PciAddress.parse(pf)
    rid = parsed.bus << 8 | parsed.device << 3 | parsed.function
    addresses = []
    for index in range(count):
        vf = rid + offset + index * stride
        addresses.append(str(PciAddress(domain=parsed.domain, bus=vf >> 8 & 0xFF, device=vf >> 3 & 0x1F,
                                        function=vf & 0x7)))
    return addresses
