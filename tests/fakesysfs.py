"""Build synthetic sysfs/procfs trees laid out like a real kernel's, for tests.

Devices live under sys/devices/pci<domain>:<bus>/..., and every link the
kernel makes (bus/pci/devices, driver, iommu_group, class/net, master,
upper_*) is a *relative* symlink, as on a live host, so discovery is tested
against the same shapes it meets there.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import struct
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Tuple

RTF_UP, RTF_GATEWAY, RTF_REJECT = 0x0001, 0x0002, 0x0200

IPV4_ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"

Bar = Tuple[int, int, int]  # (start, end, flags) as the kernel prints them


class FakeSysfs:
    def __init__(self, root: os.PathLike) -> None:
        self.root = Path(root)
        self._device_dirs: Dict[str, Path] = {}
        self._ipv4_lines = []
        self._ipv6_lines = []
        for relative in ("sys/bus/pci/devices", "sys/bus/pci/drivers", "sys/class/net", "proc/net"):
            (self.root / relative).mkdir(parents=True, exist_ok=True)
        self._write_routes()

    # --- PCI ---------------------------------------------------------------

    def add_pci(
        self,
        address: str,
        vendor: str = "8086",
        device: str = "10d3",
        class_code: str = "0x020000",
        driver: Optional[str] = None,
        module: Optional[str] = None,
        iommu_group: Optional[int] = None,
        numa_node: int = -1,
        bars: Sequence[Bar] = (),
        driver_override: Optional[str] = None,
        parent: Optional[str] = None,
        modalias: Optional[str] = None,
    ) -> Path:
        """A PCI function; `parent` nests it behind that bridge, `module` links its driver to a module."""
        domain, bus = address.split(":")[:2]
        base = self._device_dirs[parent] if parent else self.root / f"sys/devices/pci{domain}:{bus}"
        path = base / address
        path.mkdir(parents=True)
        self._device_dirs[address] = path
        resource = list(bars) + [(0, 0, 0)] * (13 - len(bars))
        files = {
            "vendor": f"0x{vendor}",
            "device": f"0x{device}",
            "class": class_code,
            "subsystem_vendor": f"0x{vendor}",
            "subsystem_device": "0x0000",
            "numa_node": str(numa_node),
            "driver_override": driver_override or "(null)",
            "resource": "".join(f"0x{s:016x} 0x{e:016x} 0x{f:016x}\n" for s, e, f in resource),
            "modalias": modalias or f"pci:v0000{vendor.upper()}d0000{device.upper()}sv*sd*bc02sc00i00",
            "irq": "11",
            "enable": "1",
            "config": "\x86\x80binary",  # present on real hosts; discovery must not need it
        }
        for name, text in files.items():
            (path / name).write_text(text + ("" if text.endswith("\n") else "\n"))
        self._link(self.root / "sys/bus/pci/devices" / address, path)
        if driver:
            self.bind(address, driver, module)
        if iommu_group is not None:
            group = self.root / f"sys/kernel/iommu_groups/{iommu_group}"
            (group / "devices").mkdir(parents=True, exist_ok=True)
            self._link(group / "devices" / address, path)
            self._link(path / "iommu_group", group)
        return path

    def bind(self, address: str, driver: str, module: Optional[str] = None) -> None:
        driver_dir = self.root / "sys/bus/pci/drivers" / driver
        driver_dir.mkdir(parents=True, exist_ok=True)
        if module and not (driver_dir / "module").is_symlink():
            module_dir = self.root / "sys/module" / module
            module_dir.mkdir(parents=True, exist_ok=True)
            self._link(driver_dir / "module", module_dir)
        self._link(driver_dir / address, self._device_dirs[address])
        self._link(self._device_dirs[address] / "driver", driver_dir)

    def add_sriov(self, pf: str, total_vfs: int, offset: int, stride: int, vf_device: str,
                  autoprobe: bool = True) -> None:
        """The PF's SR-IOV attributes, no VF enabled yet (FakeKernel makes VFs on sriov_numvfs writes)."""
        for name, value in (("sriov_totalvfs", total_vfs), ("sriov_numvfs", 0), ("sriov_offset", offset),
                            ("sriov_stride", stride), ("sriov_vf_device", vf_device),
                            ("sriov_drivers_autoprobe", int(autoprobe))):
            (self._device_dirs[pf] / name).write_text(f"{value}\n")

    def add_vf(self, pf: str, index: int, address: str, vf_device: str, driver: Optional[str],
               iommu_group: Optional[int]) -> Path:
        """VF `index` of `pf`: a sibling of the PF with physfn/virtfn<index> links, as the kernel makes."""
        above = self._device_dirs[pf].parent
        bridge = next((a for a, d in self._device_dirs.items() if d == above), None)  # None: on a root bus
        path = self.add_pci(address, device=vf_device, driver=driver, iommu_group=iommu_group, parent=bridge)
        self._link(path / "physfn", self._device_dirs[pf])
        self._link(self._device_dirs[pf] / f"virtfn{index}", path)
        return path

    def remove_pci(self, address: str) -> None:
        """Take a device out of the tree (and every link to it)."""
        path = os.path.realpath(self._device_dirs.pop(address))
        for folder, dirs, files in os.walk(self.root):  # symlinks are not followed
            for name in dirs + files:
                link = os.path.join(folder, name)
                if os.path.islink(link) and os.path.realpath(link) == path:
                    os.unlink(link)
        shutil.rmtree(path)

    def enable_iommu_class(self, name: str = "dmar0") -> None:
        """An IOMMU class device (sys/class/iommu/<name>), as intel_iommu=on makes."""
        target = self.root / "sys/devices/virtual/iommu" / name
        target.mkdir(parents=True, exist_ok=True)
        (self.root / "sys/class/iommu").mkdir(parents=True, exist_ok=True)
        self._link(self.root / "sys/class/iommu" / name, target)

    # --- network interfaces -----------------------------------------------

    def add_netdev(
        self,
        name: str,
        pci: Optional[str] = None,
        mac: str = "52:54:00:12:34:56",
        mtu: int = 1500,
        operstate: str = "up",
        carrier: Optional[int] = 1,
        rx_packets: int = 0,
        tx_packets: int = 0,
        virtio: Optional[int] = None,
    ) -> Path:
        """An interface owned by PCI device `pci` (under virtio<N>/ for virtio-net), or virtual."""
        if pci is None:
            path = self.root / "sys/devices/virtual/net" / name
        elif virtio is not None:
            path = self._device_dirs[pci] / f"virtio{virtio}" / "net" / name
        else:
            path = self._device_dirs[pci] / "net" / name
        (path / "statistics").mkdir(parents=True)
        (path / "address").write_text(mac + "\n")
        (path / "mtu").write_text(f"{mtu}\n")
        (path / "operstate").write_text(operstate + "\n")
        if carrier is not None:  # absent models the EINVAL a down link gives
            (path / "carrier").write_text(f"{carrier}\n")
        (path / "statistics/rx_packets").write_text(f"{rx_packets}\n")
        (path / "statistics/tx_packets").write_text(f"{tx_packets}\n")
        if pci is not None:
            self._link(path / "device", path.parent.parent)
        self._link(self.root / "sys/class/net" / name, path)
        return path

    def enslave(self, member: str, master: str) -> None:
        """`member` joins bond/bridge `master`: master + upper_ links, lower_ back-link."""
        member_dir, master_dir = self._netdev_dir(member), self._netdev_dir(master)
        self._link(member_dir / "master", master_dir)
        self._link(member_dir / f"upper_{master}", master_dir)
        self._link(master_dir / f"lower_{member}", member_dir)

    def stack(self, lower: str, upper: str) -> None:
        """`upper` (e.g. a VLAN) sits on `lower` without being its master."""
        self._link(self._netdev_dir(lower) / f"upper_{upper}", self._netdev_dir(upper))
        self._link(self._netdev_dir(upper) / f"lower_{lower}", self._netdev_dir(lower))

    # --- routes -------------------------------------------------------------

    def add_route(self, iface: str, network: str, gateway: Optional[str] = None, metric: int = 0, flags: int = RTF_UP) -> None:
        """An IPv4 route in /proc/net/route's little-endian hex format."""
        net = ipaddress.IPv4Network(network)
        if gateway:
            flags |= RTF_GATEWAY
        self._ipv4_lines.append("\t".join([
            iface, _le_hex(net.network_address), _le_hex(ipaddress.IPv4Address(gateway or "0.0.0.0")),
            f"{flags:04X}", "0", "0", str(metric), _le_hex(net.netmask), "0", "0", "0",
        ]))
        self._write_routes()

    def add_route6(self, iface: str, network: str, gateway: Optional[str] = None, metric: int = 256, flags: int = RTF_UP) -> None:
        """An IPv6 route in /proc/net/ipv6_route's format."""
        net = ipaddress.IPv6Network(network)
        nexthop = ipaddress.IPv6Address(gateway or "::")
        if gateway:
            flags |= RTF_GATEWAY
        self._ipv6_lines.append(
            f"{net.network_address.packed.hex()} {net.prefixlen:02x} {'0' * 32} 00 {nexthop.packed.hex()} "
            f"{metric:08x} 00000001 00000000 {flags:08x} {iface:>8}"
        )
        self._write_routes()

    def add_loopback(self) -> None:
        """lo with the routes every host has, including the IPv6 reject route."""
        self.add_netdev("lo", mac="00:00:00:00:00:00", mtu=65536, operstate="unknown")
        self.add_route6("lo", "::1/128", flags=0x80200001)
        self.add_route6("lo", "::/0", metric=0xFFFFFFFF, flags=0x00200200)

    def link_local_only(self, iface: str, host_bits: str = "5054:ff:fe12:3456") -> None:
        """The IPv6 routes an up interface gets with no configuration at all."""
        self.add_route6(iface, "fe80::/64")
        self.add_route6(iface, f"fe80::{host_bits}/128", metric=0, flags=0x80200001)
        self.add_route6(iface, "ff00::/8")

    # --- misc ---------------------------------------------------------------

    def write_pci_ids(self, text: str, where: str = "usr/share/misc/pci.ids") -> None:
        (self.root / where).parent.mkdir(parents=True, exist_ok=True)
        (self.root / where).write_text(text)

    def write_modules_alias(self, release: str, lines: Iterable[str]) -> None:
        (self.root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
        (self.root / "proc/sys/kernel/osrelease").write_text(release + "\n")
        modules = self.root / "lib/modules" / release
        modules.mkdir(parents=True, exist_ok=True)
        (modules / "modules.alias").write_text("".join(line + "\n" for line in lines))

    def _netdev_dir(self, name: str) -> Path:
        link = self.root / "sys/class/net" / name
        return Path(os.path.normpath(link.parent / os.readlink(link)))

    def _link(self, link: Path, target: Path) -> None:
        link.symlink_to(os.path.relpath(target, link.parent))

    def _write_routes(self) -> None:
        (self.root / "proc/net/route").write_text("\n".join([IPV4_ROUTE_HEADER] + self._ipv4_lines) + "\n")
        (self.root / "proc/net/ipv6_route").write_text("".join(line + "\n" for line in self._ipv6_lines))


def _le_hex(address: ipaddress.IPv4Address) -> str:
    return f"{struct.unpack('<I', address.packed)[0]:08X}"


def build_lab_host(root: os.PathLike, iommu: bool = True) -> FakeSysfs:
    """A host shaped like the QEMU lab: a host bridge, a virtio management NIC
    carrying the default route, and two e1000e NICs cabled to each other.

    With `iommu`, each device has its own group except the two e1000e NICs,
    which share group 3 (as behind one PCIe switch without ACS).
    """
    fake = FakeSysfs(root)
    group = (lambda n: n) if iommu else (lambda n: None)
    fake.add_pci("0000:00:00.0", vendor="8086", device="29c0", class_code="0x060000", iommu_group=group(0))
    fake.add_pci("0000:00:02.0", vendor="1af4", device="1041", driver="virtio-pci",
                 iommu_group=group(1), bars=[(0xFE000000, 0xFE003FFF, 0x140204)])
    fake.add_pci("0000:00:03.0", driver="e1000e", module="e1000e", iommu_group=group(3), numa_node=0,
                 bars=[(0xFEB80000, 0xFEB9FFFF, 0x40200), (0xFEBA0000, 0xFEBBFFFF, 0x40200),
                       (0xC000, 0xC01F, 0x40101), (0xFEBC0000, 0xFEBC3FFF, 0x40200),
                       (0, 0, 0), (0, 0, 0), (0xFEB40000, 0xFEB7FFFF, 0x46200)])
    fake.add_pci("0000:00:04.0", driver="e1000e", module="e1000e", iommu_group=group(3), numa_node=0)
    if iommu:
        fake.enable_iommu_class()
    fake.add_loopback()
    fake.add_netdev("enp0s2", pci="0000:00:02.0", virtio=0, mac="52:54:00:00:00:02", rx_packets=120, tx_packets=80)
    fake.add_netdev("enp0s3", pci="0000:00:03.0", mac="52:54:00:00:00:03")
    fake.add_netdev("enp0s4", pci="0000:00:04.0", mac="52:54:00:00:00:04", operstate="down", carrier=None)
    fake.add_route("enp0s2", "0.0.0.0/0", gateway="10.0.2.2", metric=100)
    fake.add_route("enp0s2", "10.0.2.0/24", metric=100)
    for iface in ("enp0s2", "enp0s3"):
        fake.link_local_only(iface)
    return fake


class FakeKernel:
    """Applies the sysfs writes bind/restore make (driver_override, <driver>/unbind,
    drivers_probe) to a FakeSysfs tree the way the kernel would.

    `kernel_driver` probes a device with no override; a probe by it recreates the
    device's netdev from `netdevs` (address -> (name, MAC)); a vfio-pci probe makes
    /dev/vfio/<iommu_group>. `fail_probe_of = (address, driver)` fails that probe
    with EINVAL. `before_write(path)` runs before each write (the journal-first checks).
    """

    def __init__(self, fake: "FakeSysfs", kernel_driver: str, netdevs: Dict[str, Tuple[str, str]],
                 iommu_group: int, before_write=None) -> None:
        self.fake, self.root = fake, fake.root
        self.kernel_driver, self.netdevs, self.iommu_group = kernel_driver, netdevs, iommu_group
        self.before_write = before_write
        self.fail_probe_of: Optional[Tuple[str, str]] = None
        self.kernel_drivers: Dict[str, str] = {}  # address -> the driver probing it with no override
        self.writes: list = []
        # VFs an sriov_numvfs write makes: {pf: (VF kernel driver, first VF's IOMMU group,
        # the addresses they appear at, or None for where offset and stride put them)}
        self.vf_setup: Dict[str, Tuple[str, int, Optional[list]]] = {}

    def record(self, address: str, path: str, value: str) -> None:
        self.writes.append((address, path, value))

    def _numvfs(self, pf: str, count: int) -> None:
        """The PF driver's sriov_configure as the kernel runs it: N -> M with both non-zero is EBUSY."""
        from nictest.pci.sriov import read_sriov
        sriov = read_sriov(self.root, pf)
        if count and sriov.num_vfs:
            raise OSError(16, "Device or resource busy")
        if count > sriov.total_vfs:
            raise OSError(34, "Numerical result out of range")
        device_dir = self.fake._device_dirs[pf]
        vf_driver, group, placed = self.vf_setup[pf]
        if count == 0:
            for index, vf in enumerate(sriov.vfs):
                self.fake.remove_pci(vf)
        else:
            autoprobe = sriov.drivers_autoprobe
            for index, vf in enumerate(placed or sriov.vf_addresses(count)):
                self.fake.add_vf(pf, index, vf, sriov.vf_device, vf_driver if autoprobe else None, group + index)
        (device_dir / "sriov_numvfs").write_text(f"{count}\n")

    def write(self, root, path: str, value: str) -> None:
        from nictest.binding import state
        if self.before_write is not None:
            self.before_write(path)
        per_device = path.endswith("driver_override") or path.endswith("sriov_numvfs")
        address = path.split("/")[-2] if per_device else value
        self.record(address, path, value)
        if path.endswith("sriov_numvfs"):
            self._numvfs(address, int(value))
            return
        device = self.fake._device_dirs[address]
        if path.endswith("driver_override"):
            (device / "driver_override").write_text((value.strip() or "(null)") + "\n")
        elif path.endswith("/unbind"):
            os.unlink(device / "driver")
            os.unlink(self.root / "sys/bus/pci/drivers" / path.split("/")[-2] / address)
            for name in state.netdevs(self.root, address):
                shutil.rmtree(device / "net" / name)
                os.unlink(self.root / "sys/class/net" / name)
        elif path.endswith("drivers_probe"):
            driver = state.override(self.root, address) or self.kernel_drivers.get(address, self.kernel_driver)
            if (address, driver) == self.fail_probe_of:
                raise OSError(22, "Invalid argument")
            self.fake.bind(address, driver)
            if driver == "vfio-pci":
                (self.root / "dev/vfio").mkdir(parents=True, exist_ok=True)
                (self.root / f"dev/vfio/{self.iommu_group}").write_text("")
            elif address in self.netdevs:
                name, mac = self.netdevs[address]
                self.fake.add_netdev(name, pci=address, mac=mac, operstate="down", carrier=None)
                (self.root / f"sys/class/net/{name}/flags").write_text("0x1002\n")
