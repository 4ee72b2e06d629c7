"""Refusals checked before anything is written: pure functions of a sysfs root.

`check_bind` reads the device, its IOMMU group and the host's driver modules
under `root` and either returns a Plan or raises RefusedError /
PrerequisiteMissing whose message names the fix. `check_group` does the same for
every endpoint of a device's IOMMU group at once (`nictest bind --group`): one
refusal for any member refuses the whole group. Nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Tuple

from nictest.binding import drivers
from nictest.binding.drivers import TargetDriver
from nictest.errors import RefusedError
from nictest.pci import PciAddress, PciDevice, read_device
from nictest.pci.groups import IOMMU_GROUPS, GroupMember, group_members, iommu_group_of
from nictest.pci.sriov import physfn
from nictest.pci.sysfs import PathLike, read_text, under

# Drivers that leave the group's DMA to VFIO (they set driver_managed_dma, so the IOMMU core
# lets VFIO claim the group around them); any other driver on any member, a bridge too, makes
# VFIO_GROUP_SET_CONTAINER fail with EBUSY. A driverless member never blocks.
VIABLE_DRIVERS = {"vfio-pci", "pci-stub", "pcieport"}
NOIOMMU_PARAM = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode"


@dataclass(frozen=True)
class Plan:
    """What the checks found: enough for bind to act without reading again."""

    device: PciDevice
    target: TargetDriver
    module: str  # "loaded" | "builtin" | "loadable"
    noiommu: bool  # vfio-pci through the unsafe no-IOMMU mode
    iommu_translates: bool

    @property
    def needs_modprobe(self) -> bool:
        return self.module == "loadable"


def check_bind(
    root: PathLike,
    address: str,
    driver: str,
    *,
    session_ip: Optional[str] = None,
    session_local: Optional[str] = None,
    allowed: Optional[Iterable[str]] = None,
    force: bool = False,
    any_class: bool = False,
    allow_uio: bool = False,
    dry_run: Optional[Callable[[str], bool]] = None,
    in_group: bool = False,
) -> Plan:
    """Every refusal, in the order a tester wants to hear them; returns the Plan if none applies.
    in_group: the device moves with its whole group (check_group checks the group once)."""
    target = drivers.normalise(driver)
    device = read_device(root, address, session_ip, names=False, session_local=session_local)
    name = str(device.address)
    check_class(device, any_class)
    check_allowed(device, allowed, pf=physfn(root, name))
    check_active(device, force)
    if device.driver == target.name:
        raise RefusedError(
            f"{name} is already bound to {target.name} and nictest has no journal entry for it, so it cannot "
            f"tell which kernel driver to give it back to; bind it back by hand "
            f"(echo {name} > /sys/bus/pci/drivers/{target.name}/unbind; echo > driver_override; "
            f"echo {name} > /sys/bus/pci/drivers_probe) and try again"
        )
    module = drivers.module_state(root, target, dry_run)
    translates = iommu_translates(root, device)
    noiommu = False
    if target.name == drivers.VFIO:
        noiommu = check_vfio_iommu(root, device)
        if not noiommu and not in_group:
            check_group_viable(device)
    else:
        check_uio(device, translates, allow_uio)
    return Plan(device=device, target=target, module=module, noiommu=noiommu, iommu_translates=translates)


def check_class(device: PciDevice, any_class: bool) -> None:
    if not device.is_network and not any_class:
        raise RefusedError(
            f"{device.address} is not a network controller (class {device.class_code}, "
            f"driver {device.driver or 'none'}); nictest binds NICs only: pick a NIC from `nictest status`, "
            "or pass --any-class if you really mean this device"
        )


def check_allowed(device: PciDevice, allowed: Optional[Iterable[str]], pf: Optional[str] = None) -> None:
    """pf: the PF of a VF; the VFs of an allowed PF are allowed are under test too."""
    if allowed is None:
        return
    permitted = sorted(str(PciAddress.parse(a)) for a in allowed)
    if str(device.address) not in permitted and pf not in permitted:
        listed = ", ".join(permitted) if permitted else "none"
        raise RefusedError(
            f"{device.address} is not in this host's allow-list (nics = [{listed}]); "
            "add it to `nics` for the host in hosts.toml if nictest may take it"
        )


def check_active(device: PciDevice, force: bool) -> None:
    if device.carries_session:
        raise RefusedError(
            f"{device.address} ({device.netdev}) carries the SSH session to this host: binding it would cut "
            "the connection and nictest never does that, not even with --force; pick another NIC"
        )
    if device.active and not force:
        raise RefusedError(
            f"{device.address} ({device.netdev}) is in use: {'; '.join(device.active_reasons)}; "
            "take its addresses/routes off (or remove it from the bond/bridge) first, or pass --force"
        )


def iommu_translates(root: PathLike, device: PciDevice) -> bool:
    """True when the device's IOMMU domain translates DMA (type DMA/DMA-FQ, not identity)."""
    if device.iommu_group is None:
        return False
    kind = read_text(under(root, IOMMU_GROUPS, str(device.iommu_group), "type"))
    # Kernels before 5.11 have no `type`: a group there means a translating IOMMU unless iommu=pt.
    return kind != "identity"


def check_vfio_iommu(root: PathLike, device: PciDevice) -> bool:
    """Refuse vfio-pci where its probe would fail; True if it must use the no-IOMMU mode."""
    if device.iommu_group is not None:
        return False
    param = read_text(under(root, NOIOMMU_PARAM))
    if param is None:
        raise RefusedError(
            f"{device.address} has no IOMMU group and this kernel's vfio has no no-IOMMU mode "
            f"(/{NOIOMMU_PARAM} is absent: built without CONFIG_VFIO_NOIOMMU): vfio-pci's probe would fail "
            "with -EINVAL and leave the NIC without a driver; nothing was touched. Boot with the IOMMU on "
            "(intel_iommu=on / amd_iommu=on, VT-d in firmware) or bind uio_pci_generic with --allow-uio"
        )
    if param.upper() not in ("Y", "1"):
        raise RefusedError(
            f"{device.address} has no IOMMU group and vfio's no-IOMMU mode is off: vfio-pci's probe would fail; "
            f"nothing was touched. Enable the IOMMU, or (unsafe, taints the kernel) "
            f"echo 1 > /{NOIOMMU_PARAM}"
        )
    return True


def blocking(member: GroupMember) -> bool:
    """True when this member's driver keeps VFIO from owning the group."""
    return blocks_vfio(member.driver)


def blocks_vfio(driver: Optional[str]) -> bool:
    return driver is not None and driver not in VIABLE_DRIVERS


def check_group_viable(device: PciDevice) -> None:
    """Every other member of the group must be driverless or on a driver that leaves DMA to VFIO
    (as the device's own scan read them: one pass over sysfs for all the checks)."""
    drivers_of = device.iommu_group_member_drivers
    offenders = [address for address in sorted(drivers_of) if blocks_vfio(drivers_of[address])]
    if not offenders:
        return
    listed = ", ".join(f"{address} on {drivers_of[address]}" for address in offenders)
    fix = (f"bind the whole group as one unit with `nictest bind --group --host <host> {device.address} vfio-pci` "
           f"(every endpoint of group {device.iommu_group} to vfio-pci, restored together by `nictest unbind`)")
    if any(address in device.iommu_group_bridges for address in offenders):
        fix = ("a bridge of the group is on a driver that does not leave DMA to VFIO: unbind that bridge driver "
               "first (nictest leaves bridges alone)")
    raise RefusedError(
        f"IOMMU group {device.iommu_group} of {device.address} is not viable for vfio-pci: {listed} share(s) "
        f"the group and stay(s) on a kernel driver, so VFIO would refuse the group; nothing was touched. "
        f"{fix[0].upper() + fix[1:]}, or pick a NIC alone in its group"
    )


@dataclass(frozen=True)
class GroupPlan:
    """What check_group found: every endpoint's Plan (bind order) and the bridges left alone."""

    group: int
    requested: str
    plans: Tuple[Plan, ...]
    bridges: Tuple[str, ...]

    @property
    def endpoints(self) -> Tuple[str, ...]:
        return tuple(str(p.device.address) for p in self.plans)

    @property
    def members(self) -> Tuple[str, ...]:
        """Every device of the group (endpoints and bridges): what the locks must cover."""
        return tuple(sorted(self.endpoints + self.bridges))


def check_group(root: PathLike, address: str, driver: str, **checks) -> GroupPlan:
    """check_bind for every endpoint of `address`'s IOMMU group; any refusal refuses them all.
    `checks`: check_bind's keyword arguments (session_ip, allowed, force, any_class, dry_run)."""
    target = drivers.normalise(driver)
    name = str(read_device(root, address, names=False).address)
    if target.name != drivers.VFIO:
        raise RefusedError(
            f"--group binds an IOMMU group to vfio-pci; {target.name} knows no IOMMU groups: bind each NIC "
            f"on its own (without --group), or bind {name}'s group to vfio-pci")
    group = iommu_group_of(root, name)
    if group is None:
        raise RefusedError(
            f"{name} has no IOMMU group (no IOMMU on this host, or the device is not translated): --group has "
            "nothing to bind as one; bind the NIC without --group")
    members = group_members(root, group)
    bridges = [m for m in members if m.is_bridge]
    stuck = [m for m in bridges if blocking(m)]
    if stuck:
        raise RefusedError(
            f"IOMMU group {group} of {name}: bridge(s) {', '.join(f'{m.address} on {m.driver}' for m in stuck)} "
            "keep VFIO from owning the group and nictest leaves bridges alone; unbind that driver first. "
            "Nothing was touched")
    plans = []
    endpoints = [m.address for m in members if not m.is_bridge]
    for member in endpoints:
        try:
            plans.append(check_bind(root, member, driver, in_group=True, **checks))
        except RefusedError as exc:
            raise RefusedError(
                f"IOMMU group {group} ({', '.join(endpoints)}) cannot be bound as one unit because of "
                f"{member}; nothing was touched: {exc}") from None
    return GroupPlan(group=group, requested=name, plans=tuple(plans), bridges=tuple(m.address for m in bridges))


def check_uio(device: PciDevice, translates: bool, allow_uio: bool) -> None:
    if allow_uio:
        return
    why = ("uio_pci_generic gives the device unrestricted DMA to all host memory: no IOMMU guards it, so a "
           "wrong descriptor can overwrite any page of the host")
    if translates:
        why = (f"the IOMMU translates DMA for {device.address} (group {device.iommu_group}) and "
               "uio_pci_generic sets up no IOMMU mapping, so every DMA the NIC does would fault; use vfio-pci. "
               "UIO also gives the device unrestricted DMA")
    raise RefusedError(f"uio_pci_generic refused for {device.address}: {why}; pass --allow-uio to accept that")
