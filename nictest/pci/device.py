"""PciDevice: one PCI function as discovery saw it, JSON-safe for the agent protocol."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from nictest.pci.address import PciAddress
from nictest.pci.bars import Bar

NETWORK_CLASS_PREFIX = "0x02"  # PCI base class 0x02: network controller


@dataclass(frozen=True)
class PciDevice:
    address: PciAddress
    vendor: Optional[str]  # 4 lowercase hex digits, "8086"
    device: Optional[str]  # "10d3"
    class_code: Optional[str]  # "0x020000"; to_dict() calls it "class"
    subsystem_vendor: Optional[str] = None
    subsystem_device: Optional[str] = None
    vendor_name: Optional[str] = None
    device_name: Optional[str] = None
    driver: Optional[str] = None
    driver_override: Optional[str] = None
    module: Optional[str] = None  # the bound driver's module, else the one modules.alias names
    modalias: Optional[str] = None
    netdevs: Tuple[str, ...] = ()
    mac: Optional[str] = None  # mac/mtu/operstate/carrier/packets: of the first netdev
    mtu: Optional[int] = None
    operstate: Optional[str] = None
    carrier: Optional[bool] = None
    rx_packets: Optional[int] = None
    tx_packets: Optional[int] = None
    iommu_group: Optional[int] = None
    iommu_group_members: Tuple[str, ...] = ()  # other devices of the group, not this one
    iommu_group_member_drivers: Dict[str, Optional[str]] = field(default_factory=dict)
    iommu_group_bridges: Tuple[str, ...] = ()  # the members above that are PCI bridges
    numa_node: Optional[int] = None
    bars: Tuple[Bar, ...] = ()
    active_reasons: Tuple[str, ...] = ()
    carries_session: bool = False  # the SSH session enters through this NIC (or a device on it)

    @property
    def is_network(self) -> bool:
        return (self.class_code or "").startswith(NETWORK_CLASS_PREFIX)

    @property
    def netdev(self) -> Optional[str]:
        return self.netdevs[0] if self.netdevs else None

    @property
    def iommu_group_peers(self) -> Tuple[str, ...]:
        """The other endpoints of this device's IOMMU group: what VFIO needs moved with it."""
        return tuple(m for m in self.iommu_group_members if m not in self.iommu_group_bridges)

    @property
    def active(self) -> bool:
        return bool(self.active_reasons)

    @property
    def active_reason(self) -> Optional[str]:
        return self.active_reasons[0] if self.active_reasons else None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "address": str(self.address),
            "vendor": self.vendor,
            "device": self.device,
            "subsystem_vendor": self.subsystem_vendor,
            "subsystem_device": self.subsystem_device,
            "vendor_name": self.vendor_name,
            "device_name": self.device_name,
            "class": self.class_code,
            "is_network": self.is_network,
            "driver": self.driver,
            "driver_override": self.driver_override,
            "module": self.module,
            "modalias": self.modalias,
            "netdevs": list(self.netdevs),
            "netdev": self.netdev,
            "mac": self.mac,
            "mtu": self.mtu,
            "operstate": self.operstate,
            "carrier": self.carrier,
            "rx_packets": self.rx_packets,
            "tx_packets": self.tx_packets,
            "iommu_group": self.iommu_group,
            "iommu_group_members": list(self.iommu_group_members),
            "iommu_group_member_drivers": dict(self.iommu_group_member_drivers),
            "iommu_group_bridges": list(self.iommu_group_bridges),
            "numa_node": self.numa_node,
            "bars": [bar.to_dict() for bar in self.bars],
            "active": self.active,
            "active_reason": self.active_reason,
            "active_reasons": list(self.active_reasons),
            "carries_session": self.carries_session,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> PciDevice:
        """Inverse of to_dict(), for the controller side of the agent protocol."""
        return cls(
            address=PciAddress.parse(data["address"]),
            vendor=data.get("vendor"),
            device=data.get("device"),
            class_code=data.get("class"),
            subsystem_vendor=data.get("subsystem_vendor"),
            subsystem_device=data.get("subsystem_device"),
            vendor_name=data.get("vendor_name"),
            device_name=data.get("device_name"),
            driver=data.get("driver"),
            driver_override=data.get("driver_override"),
            module=data.get("module"),
            modalias=data.get("modalias"),
            netdevs=tuple(data.get("netdevs") or ()),
            mac=data.get("mac"),
            mtu=data.get("mtu"),
            operstate=data.get("operstate"),
            carrier=data.get("carrier"),
            rx_packets=data.get("rx_packets"),
            tx_packets=data.get("tx_packets"),
            iommu_group=data.get("iommu_group"),
            iommu_group_members=tuple(data.get("iommu_group_members") or ()),
            iommu_group_member_drivers=dict(data.get("iommu_group_member_drivers") or {}),
            iommu_group_bridges=tuple(data.get("iommu_group_bridges") or ()),
            numa_node=data.get("numa_node"),
            bars=tuple(Bar.from_dict(bar) for bar in data.get("bars") or ()),
            active_reasons=tuple(data.get("active_reasons") or ([data["active_reason"]] if data.get("active_reason") else ())),
            carries_session=bool(data.get("carries_session")),
        )
