"""NIC discovery: read-only, a pure function of a sysfs/procfs root.

Point `root` at "/" on a live host or at a recorded tree (see record.py).
Nothing here writes anywhere.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Iterable, List, Optional, Union

from nictest.errors import DeviceNotFound, PciAddressError
from nictest.pci.activity import Activity
from nictest.pci.address import PciAddress
from nictest.pci.bars import parse_resource
from nictest.pci.device import NETWORK_CLASS_PREFIX, PciDevice
from nictest.pci.groups import IOMMU_GROUPS, PCI_DEVICES, group_members, iommu_group_of
from nictest.pci.modalias import load_pci_aliases, module_for
from nictest.pci.netdev import netdev_names, read_netdev
from nictest.pci.pciids import lookup_names
from nictest.pci.sysfs import PathLike, link_name, list_dir, read_int, read_text, under

log = logging.getLogger("nictest.pci")


def discover(root: PathLike = "/", session_ip: Optional[str] = None,
             session_local: Optional[str] = None) -> List[PciDevice]:
    """Every network-class (0x02xxxx) PCI device, sorted by address.

    `session_ip` and `session_local` are the SSH client's and this host's addresses
    (first and third fields of $SSH_CONNECTION); the NIC the session uses is marked
    active and `carries_session` (see activity.py for how it is found).
    """
    # The class is read first and only NICs are read whole: a server has dozens of bridges,
    # storage and management functions that status would read and throw away.
    nics = [a for a in pci_addresses(root)
            if f"0x{hex_id(read_text(under(root, PCI_DEVICES, str(a), 'class')), 6)}".startswith(NETWORK_CLASS_PREFIX)]
    return [device for device in _Scan(root, session_ip, session_local).devices(nics) if device.is_network]


def all_devices(root: PathLike = "/", session_ip: Optional[str] = None,
                session_local: Optional[str] = None) -> List[PciDevice]:
    """Every PCI device, sorted by address."""
    return _Scan(root, session_ip, session_local).devices(pci_addresses(root))


def read_device(root: PathLike, address: Union[str, PciAddress], session_ip: Optional[str] = None,
                names: bool = True, session_local: Optional[str] = None) -> PciDevice:
    """One PCI device of any class; DeviceNotFound if the host has none at `address`.
    names=False skips the pci.ids scan (a bind does not need the names; it is the slow part)."""
    parsed = PciAddress.parse(address)
    if not os.path.isdir(under(root, PCI_DEVICES, str(parsed))):
        raise DeviceNotFound(
            f"no PCI device {parsed} under {under(root, PCI_DEVICES)}; "
            "list the host's devices with `nictest status` (or lspci -D)"
        )
    return _Scan(root, session_ip, session_local).devices([parsed], names=names)[0]


def read_devices(root: PathLike, addresses: Iterable[Union[str, PciAddress]], names: bool = False) -> List[PciDevice]:
    """Several devices in one discovery pass (the route tables read once for all of them);
    DeviceNotFound for the first that is absent."""
    parsed = [PciAddress.parse(a) for a in addresses]
    for address in parsed:
        if not os.path.isdir(under(root, PCI_DEVICES, str(address))):
            raise DeviceNotFound(f"no PCI device {address} under {under(root, PCI_DEVICES)}; "
                                 "list the host's devices with `nictest status` (or lspci -D)")
    return _Scan(root, None).devices(parsed, names=names)


def pci_addresses(root: PathLike = "/") -> List[PciAddress]:
    """Addresses listed in /sys/bus/pci/devices, sorted; unparseable names are logged and skipped."""
    addresses = []
    for name in list_dir(under(root, PCI_DEVICES)):
        try:
            addresses.append(PciAddress.parse(name))
        except PciAddressError as error:
            # e.g. Intel VMD domains (10000:...) are wider than 16 bits
            log.warning("skipping PCI device %s: %s", name, error)
    return sorted(addresses)


def iommu_enabled(root: PathLike = "/") -> bool:
    """True when the kernel runs an IOMMU (any IOMMU group or IOMMU class device)."""
    return bool(list_dir(under(root, IOMMU_GROUPS)) or list_dir(under(root, "sys/class/iommu")))


def iommu_address_bits(root: PathLike = "/") -> Optional[int]:
    """The widest IOVA every IOMMU unit of the host translates, or None when no unit says.

    Intel VT-d: the capability register (sysfs intel-iommu/cap, hex) holds MGAW, the
    maximum guest address width minus one, in bits 21:16 (VT-d spec, 11.4.2). Other IOMMUs
    do not publish a width in sysfs: None, and callers keep to 32 bits, which every one has.
    """
    widths = []
    for unit in list_dir(under(root, "sys/class/iommu")):
        cap = read_int(under(root, "sys/class/iommu", unit, "intel-iommu/cap"), 16)
        if cap is not None:
            widths.append((cap >> 16 & 0x3F) + 1)
    return min(widths) if widths else None


def hex_id(text: Optional[str], digits: int) -> Optional[str]:
    """"0x8086" -> "8086"; None for missing or garbled ids."""
    if not text:
        return None
    try:
        return f"{int(text, 16):0{digits}x}"
    except ValueError:
        return None


class _Scan:
    """One discovery pass: route tables, pci.ids and modules.alias read at most once."""

    def __init__(self, root: PathLike, session_ip: Optional[str], session_local: Optional[str] = None) -> None:
        self.root = root
        self.activity = Activity(root, session_ip, session_local)
        self._aliases: Optional[list] = None

    def devices(self, addresses: Iterable[PciAddress], names: bool = True) -> List[PciDevice]:
        raw = [self._read(address) for address in addresses]
        wanted = {(d["vendor"], d["device"]) for d in raw if d["vendor"] and d["device"]} if names else set()
        found = lookup_names(self.root, wanted)
        for fields in raw:
            fields["vendor_name"] = found.get((fields["vendor"], None))
            fields["device_name"] = found.get((fields["vendor"], fields["device"]))
        return [PciDevice(**fields) for fields in raw]

    def _read(self, address: PciAddress) -> Dict:
        path = under(self.root, PCI_DEVICES, str(address))
        attr = lambda name: read_text(os.path.join(path, name))  # noqa: E731
        driver = link_name(os.path.join(path, "driver"))
        modalias = attr("modalias") or None
        group = iommu_group_of(self.root, address)
        others = [m for m in group_members(self.root, group) if m.address != str(address)]
        numa_node = read_int(os.path.join(path, "numa_node"))
        netdevs = netdev_names(path)
        first = read_netdev(self.root, netdevs[0]) if netdevs else None
        reasons: List[str] = []
        for name in netdevs:
            reasons += self.activity.reasons(name)
        class_id = hex_id(attr("class"), 6)
        return dict(
            address=address,
            vendor=hex_id(attr("vendor"), 4),
            device=hex_id(attr("device"), 4),
            class_code=f"0x{class_id}" if class_id else None,
            subsystem_vendor=hex_id(attr("subsystem_vendor"), 4),
            subsystem_device=hex_id(attr("subsystem_device"), 4),
            driver=driver,
            driver_override=_override(attr("driver_override")),
            module=self._module(driver, modalias),
            modalias=modalias,
            netdevs=tuple(netdevs),
            mac=first.mac if first else None,
            mtu=first.mtu if first else None,
            operstate=first.operstate if first else None,
            carrier=first.carrier if first else None,
            rx_packets=first.rx_packets if first else None,
            tx_packets=first.tx_packets if first else None,
            iommu_group=group,
            iommu_group_members=tuple(m.address for m in others),
            iommu_group_member_drivers={m.address: m.driver for m in others},
            iommu_group_bridges=tuple(m.address for m in others if m.is_bridge),
            numa_node=None if numa_node is None or numa_node < 0 else numa_node,
            bars=tuple(parse_resource(attr("resource") or "")),
            active_reasons=tuple(reasons),
            carries_session=any(self.activity.carries_session(name) for name in netdevs),
        )

    def _module(self, driver: Optional[str], modalias: Optional[str]) -> Optional[str]:
        if driver:
            # drivers/<name>/module -> .../module/<module>; built-in drivers have
            # no link and no module to load, so None
            return link_name(under(self.root, "sys/bus/pci/drivers", driver, "module"))
        if self._aliases is None:
            self._aliases = load_pci_aliases(self.root)
        return module_for(modalias, self._aliases)


def _override(text: Optional[str]) -> Optional[str]:
    return None if not text or text == "(null)" else text
