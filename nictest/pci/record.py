"""Record the part of a live host's /sys and /proc that discovery reads.

    python3 -m nictest.pci.record OUTDIR [--source /]

Read-only on the source: it opens a fixed list of small text attributes and
reads symlinks, nothing else (never `config`, `resourceN` or `rom`, which are
binary, huge, or have side effects). Links are recreated with their original
relative targets, so `discover(OUTDIR)` sees the same devices as
`discover("/")` did. pci.ids is not copied.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from nictest.pci.sysfs import PathLike, list_dir, under

PCI_ATTRIBUTES = (
    "vendor", "device", "class", "subsystem_vendor", "subsystem_device", "numa_node",
    "resource", "driver_override", "modalias", "irq", "enable",
)
PCI_LINKS = ("driver", "iommu_group")
NETDEV_ATTRIBUTES = (
    "address", "mtu", "operstate", "carrier", "statistics/rx_packets", "statistics/tx_packets",
)
PROC_FILES = ("proc/net/route", "proc/net/ipv6_route", "proc/sys/kernel/osrelease")


class Recorder:
    """Copies attributes and links from `source` into `outdir`, keeping sysfs paths."""

    def __init__(self, outdir: PathLike, source: PathLike = "/") -> None:
        self.outdir = os.path.abspath(os.fspath(outdir))
        self.source = os.fspath(source)
        self.files = 0
        self.links = 0
        self.skipped: List[str] = []

    def record(self) -> None:
        if os.path.exists(self.outdir) and os.listdir(self.outdir):
            raise SystemExit(f"refusing to record into non-empty {self.outdir}; pick a new directory")
        os.makedirs(self.outdir, exist_ok=True)
        for name in list_dir(under(self.source, "sys/bus/pci/drivers")):
            self.make_dir(f"sys/bus/pci/drivers/{name}")
            self.copy_link(f"sys/bus/pci/drivers/{name}/module")
        for name in list_dir(under(self.source, "sys/bus/pci/devices")):
            device = self.copy_link(f"sys/bus/pci/devices/{name}")
            if device is None:
                continue
            for attribute in PCI_ATTRIBUTES:
                self.copy_file(f"{device}/{attribute}")
            for link in PCI_LINKS:
                self.copy_link(f"{device}/{link}")
        for group in list_dir(under(self.source, "sys/kernel/iommu_groups")):
            for member in list_dir(under(self.source, f"sys/kernel/iommu_groups/{group}/devices")):
                self.copy_link(f"sys/kernel/iommu_groups/{group}/devices/{member}")
        for name in list_dir(under(self.source, "sys/class/iommu")):
            self.copy_link(f"sys/class/iommu/{name}")
        for name in list_dir(under(self.source, "sys/class/net")):
            netdev = self.copy_link(f"sys/class/net/{name}")
            if netdev is None:
                continue
            for attribute in NETDEV_ATTRIBUTES:
                self.copy_file(f"{netdev}/{attribute}")
            for entry in list_dir(under(self.source, netdev)):
                if entry in ("master", "device") or entry.startswith(("upper_", "lower_")):
                    self.copy_link(f"{netdev}/{entry}", make_target=False)
        for relative in PROC_FILES:
            self.copy_file(relative, limit=None)

    def copy_file(self, relative: str, limit: Optional[int] = 65536) -> None:
        """Copy one text file; attributes that can't be read (EINVAL, EACCES) are skipped."""
        source = under(self.source, relative)
        if os.path.islink(source) or not os.path.isfile(source):
            return
        try:
            with open(source, "rb") as handle:
                data = handle.read() if limit is None else handle.read(limit)
        except OSError as error:
            self.skipped.append(f"{relative}: {error.strerror}")
            return
        target = self.out_path(relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
        self.files += 1

    def copy_link(self, relative: str, make_target: bool = True) -> Optional[str]:
        """Recreate a symlink with its original target; return that target's path (relative to root).

        The target is computed lexically (no realpath), and links leading
        outside the recorded tree are skipped.
        """
        source = under(self.source, relative)
        try:
            target = os.readlink(source)
        except OSError:
            return None
        resolved = os.path.normpath(os.path.join(os.path.dirname(relative), target))
        if os.path.isabs(target) or resolved.startswith(".."):
            self.skipped.append(f"{relative}: link to {target} leaves the tree")
            return None
        link = self.out_path(relative)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
        self.links += 1
        if make_target and os.path.isdir(source):
            self.make_dir(resolved)
        return resolved

    def make_dir(self, relative: str) -> None:
        os.makedirs(self.out_path(relative), exist_ok=True)

    def out_path(self, relative: str) -> str:
        path = os.path.join(self.outdir, relative)
        # Belt and braces: every write must land inside outdir, whatever links exist there.
        parent = os.path.realpath(os.path.dirname(path))
        if parent != self.outdir and not parent.startswith(self.outdir + os.sep):
            raise RuntimeError(f"refusing to write {relative}: resolves outside {self.outdir}")
        return path


def record(outdir: PathLike, source: PathLike = "/") -> Recorder:
    recorder = Recorder(outdir, source)
    recorder.record()
    return recorder


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m nictest.pci.record",
        description="Copy (read-only) the sysfs/procfs subset nictest discovery reads into OUTDIR.",
    )
    parser.add_argument("outdir", help="new or empty directory to write the tree into")
    parser.add_argument("--source", default="/", help="root to record from (default: /)")
    args = parser.parse_args(argv)
    recorder = record(args.outdir, args.source)
    print(f"recorded {recorder.files} files and {recorder.links} links into {recorder.outdir}")
    for line in recorder.skipped:
        print(f"skipped {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
