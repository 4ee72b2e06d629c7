"""Network interfaces (netdevs) of PCI devices and their state."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional

from nictest.pci.sysfs import PathLike, link_name, list_dir, read_int, read_text, under


@dataclass(frozen=True)
class Netdev:
    name: str
    mac: Optional[str]
    mtu: Optional[int]
    operstate: Optional[str]
    carrier: Optional[bool]  # None when unreadable (the kernel gives EINVAL on a down link)
    master: Optional[str]  # bond/bridge/team this interface is enslaved to
    uppers: List[str] = field(default_factory=list)  # every upper device (master, VLANs, macvlans...)
    rx_packets: Optional[int] = None
    tx_packets: Optional[int] = None


def netdev_names(device_dir: str) -> List[str]:
    """Interfaces a PCI device owns: `net/<name>`, or `virtioN/net/<name>` for virtio-net."""
    names = list_dir(os.path.join(device_dir, "net"))
    for entry in list_dir(device_dir):
        if entry.startswith("virtio") and entry[len("virtio"):].isdigit():
            names += list_dir(os.path.join(device_dir, entry, "net"))
    return sorted(set(names))


def read_netdev(root: PathLike, name: str) -> Netdev:
    base = under(root, "sys/class/net", name)
    carrier = read_int(os.path.join(base, "carrier"))
    return Netdev(
        name=name,
        mac=read_text(os.path.join(base, "address")) or None,
        mtu=read_int(os.path.join(base, "mtu")),
        operstate=read_text(os.path.join(base, "operstate")) or None,
        carrier=None if carrier is None else bool(carrier),
        master=link_name(os.path.join(base, "master")),
        uppers=upper_names(root, name),
        rx_packets=read_int(os.path.join(base, "statistics", "rx_packets")),
        tx_packets=read_int(os.path.join(base, "statistics", "tx_packets")),
    )


def upper_names(root: PathLike, name: str) -> List[str]:
    """Devices stacked on `name`: its master plus every `upper_<dev>` link."""
    base = under(root, "sys/class/net", name)
    uppers = [entry[len("upper_"):] for entry in list_dir(base) if entry.startswith("upper_")]
    master = link_name(os.path.join(base, "master"))
    if master and master not in uppers:
        uppers.insert(0, master)
    return uppers
