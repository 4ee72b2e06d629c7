"""The bundled QEMU lab hosts (lab1: IOMMU + VFIO, lab2: no IOMMU, UIO)."""
from __future__ import annotations

import fcntl

from . import build as _build
from .profiles import PROFILES, LabProfile, profile
from .progress import Progress
from .vm import LabVM

__all__ = ["PROFILES", "LabProfile", "LabVM", "Progress", "profile", "ensure_up", "build_image"]


def build_image(force: bool = False, progress: Progress | None = None) -> _build.Image:
    return _build.build(force=force, say=progress)


def ensure_up(name: str, progress: Progress | None = None) -> tuple[LabVM, bool]:
    """The lab VM running and reachable by SSH; True when this call booted it.

    Serialised by a lock file so parallel pytest workers boot a lab once.
    """
    vm = LabVM(name)
    progress = progress or Progress(f"lab {name}")
    vm.dir.mkdir(parents=True, exist_ok=True)
    with open(vm.dir / ".up.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if vm.running():
            vm.wait_ssh(300, progress)
            return vm, False
        image = _build.build(say=progress, variant=vm.profile.image)
        return vm, vm.up(image, progress)
