"""The bundled lab hosts: what each QEMU guest looks like from outside."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import LabError


@dataclass(frozen=True)
class LabProfile:
    name: str
    iommu: bool          # emulated Intel IOMMU (VFIO) or none (UIO only)
    ssh_port: int        # 127.0.0.1:ssh_port forwards to the guest's sshd
    nic_macs: tuple      # the two cabled e1000e NICs, guest 00:03.0 and 00:04.0
    memory_mb: int = 1024
    cpus: int = 2


PROFILES = {
    "lab1": LabProfile("lab1", iommu=True, ssh_port=10022,
                       nic_macs=("52:54:00:00:01:10", "52:54:00:00:01:11")),
    "lab2": LabProfile("lab2", iommu=False, ssh_port=10023,
                       nic_macs=("52:54:00:00:02:10", "52:54:00:00:02:11")),
    # A spare IOMMU lab: a second VFIO host for parallel runs and development.
    "lab3": LabProfile("lab3", iommu=True, ssh_port=10024,
                       nic_macs=("52:54:00:00:03:10", "52:54:00:00:03:11")),
    # A spare no-IOMMU lab (UIO), for the same.
    "lab4": LabProfile("lab4", iommu=False, ssh_port=10025,
                       nic_macs=("52:54:00:00:04:10", "52:54:00:00:04:11")),
}
# More spare IOMMU labs, so parallel sessions never share a cabled pair.
for _n in (5, 6, 7):
    PROFILES[f"lab{_n}"] = LabProfile(f"lab{_n}", iommu=True, ssh_port=10021 + _n,
                                      nic_macs=(f"52:54:00:00:0{_n}:10", f"52:54:00:00:0{_n}:11"))


def profile(name: str) -> LabProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise LabError(f"no lab called {name!r}; the bundled labs are "
                       f"{', '.join(sorted(PROFILES))}") from None
