"""Create SR-IOV virtual functions on a PF, and take them away again — journalled.

create = check_create (every refusal before any write) -> ONE journal entry for
the PF (kind "sriov": its sriov_numvfs, the addresses the VFs will get, the PF's
netdev state) written before the write -> sriov_numvfs = N -> verify that N VFs
exist at the recorded addresses and that the PF's netdev came back as recorded.

remove = the VFs' own bind entries are restored first (a VF on vfio-pci goes
back to where it was, see `vf_entries`) -> sriov_numvfs = what it was -> verify:
no VF left, the PF's driver, netdev, MAC, MTU and link as recorded -> the entry
is removed. Idempotent from any point create or an earlier remove stopped at.

The PF stays on its kernel driver throughout (its driver does the enabling), or
it is on vfio-pci by a bind of this session (`pf_bind`, the VF-token case): then
vfio-pci enables the VFs, which it does only with its module parameter
enable_sriov on. The sriov entry then carries the PF's bind entry (it replaces it
under the PF's address, atomically) and enable_sriov as it was; remove puts
enable_sriov back once the VFs are gone and writes the PF's bind entry back, so
the PF is exactly as after its bind (restoring that gives it back to its kernel
driver). vfio-pci gives its PF's new VFs driver_override vfio-pci.

The host's sriov_drivers_autoprobe is honoured, never changed: with it on, new VFs
get their kernel VF driver (vfio-pci under a vfio-pci PF); off, they come up driverless.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from nictest.binding import netstate, safety, state, sysfs_write
from nictest.binding.bind import now
from nictest.binding.journal import Journal, keep_failed
from nictest.binding.udev import DEFAULT_TIMEOUT, Watch
from nictest.errors import BindError, NictestError, RefusedError
from nictest.pci import PciDevice, read_device
from nictest.pci.sriov import SriovState, read_sriov, virtfns
from nictest.pci.sysfs import PathLike, read_text, under

log = logging.getLogger("nictest.binding")

KIND = "sriov"
VFIO = "vfio-pci"
ENABLE_SRIOV = "sys/module/vfio_pci/parameters/enable_sriov"


@dataclass(frozen=True)
class SriovPlan:
    pf: PciDevice
    sriov: SriovState
    num_vfs: int
    pf_bind: Optional[Dict[str, Any]] = None  # the PF's bind entry when it is on vfio-pci

    @property
    def vf_addresses(self) -> List[str]:
        return self.sriov.vf_addresses(self.num_vfs)


def is_sriov(entry: Dict[str, Any]) -> bool:
    return entry.get("kind") == KIND


def check_create(root: PathLike, address: str, num_vfs: int, *, session_ip: Optional[str] = None,
                 session_local: Optional[str] = None, allowed=None, force: bool = False,
                 pf_bind: Optional[Dict[str, Any]] = None) -> SriovPlan:
    """Every refusal for creating `num_vfs` VFs on the PF at `address`; nothing here writes.
    pf_bind: the PF's own bind entry (this session bound it to vfio-pci)."""
    pf = read_device(root, address, session_ip, names=False, session_local=session_local)
    name = str(pf.address)
    safety.check_class(pf, any_class=False)
    safety.check_allowed(pf, allowed)
    # Enabling VFs makes the PF's driver reset the port (its link drops): same rule as a bind.
    safety.check_active(pf, force)
    sriov = read_sriov(root, name)
    if sriov is None:
        raise RefusedError(f"{name} ({pf.vendor}:{pf.device}) has no SR-IOV capability (no sriov_totalvfs in "
                           f"sysfs): pick a PF that lists SR-IOV in `lspci -vv -s {name}`")
    if pf.driver is None:
        raise RefusedError(f"{name} has no driver: its kernel driver enables the VFs; bind it back first "
                           f"(`nictest restore --host <host> {name}`)")
    if (pf.driver == VFIO) != bool(pf_bind) or (pf_bind and pf_bind.get("target") != VFIO):
        raise RefusedError(f"{name} is on {pf.driver}: VFs are created by its kernel driver, or by vfio-pci "
                           f"when this session bound it there (`nictest bind {name} vfio-pci`, same session)")
    if pf_bind and not os.path.exists(under(root, ENABLE_SRIOV)):
        raise RefusedError(f"{name} is on vfio-pci but /{ENABLE_SRIOV} does not exist: this vfio-pci cannot "
                           "enable VFs (Linux 5.7+ has the parameter)")
    if sriov.num_vfs or sriov.vfs:
        raise RefusedError(f"{name} already has {sriov.num_vfs} VF(s) ({', '.join(sriov.vfs) or 'none listed'}) "
                           "that nictest did not create and cannot tell whether anything uses them; "
                           f"remove them first if nothing does (echo 0 > /sys/bus/pci/devices/{name}/sriov_numvfs)")
    if not 1 <= num_vfs <= sriov.total_vfs:
        raise RefusedError(f"{name}: {num_vfs} VFs asked for, its driver offers 1 to {sriov.total_vfs} "
                           f"(sriov_totalvfs); ask for at most {sriov.total_vfs}")
    return SriovPlan(pf=pf, sriov=sriov, num_vfs=num_vfs, pf_bind=pf_bind)


def create(root: PathLike, plan: SriovPlan, journal: Journal, owner: Dict[str, Any], persistent: bool = False,
           timeout: float = DEFAULT_TIMEOUT, use_udev: bool = True) -> Dict[str, Any]:
    """Enable the planned VFs; returns {pf, vfs, num_vfs, seconds, journal}. Rolled back on any failure."""
    started = time.monotonic()
    name = str(plan.pf.address)
    entry = {
        "address": name,
        "kind": KIND,
        "driver": plan.pf.driver,
        "num_vfs_was": plan.sriov.num_vfs,
        "num_vfs": plan.num_vfs,
        "vfs": plan.vf_addresses,
        "drivers_autoprobe": plan.sriov.drivers_autoprobe,
        "net": netstate.snapshot(root, plan.pf.netdev),
        "persistent": persistent,
        "owner": dict(owner),
        "bound_at": now(),
        "state": "creating",
    }
    if plan.pf_bind:
        entry.update(pf_bind=plan.pf_bind, enable_sriov_was=enable_sriov(root))
    journal.write(entry)  # before the write to sriov_numvfs: a crash from here on is undone by remove()
    try:
        with Watch(name, use_udev) as watch:
            if plan.pf_bind and entry["enable_sriov_was"] != "Y":
                sysfs_write.write(root, ENABLE_SRIOV, "Y")  # vfio-pci's sriov_configure refuses without it
            sysfs_write.write(root, f"sys/bus/pci/devices/{name}/sriov_numvfs", str(plan.num_vfs))
            # The PF's driver resets the port to enable the VFs; wait for its netdev to be as it was.
            _wait_pf(root, entry, watch, timeout, "after enabling the VFs")
        problems = _created_problems(root, entry)
        if problems:
            raise BindError("; ".join(problems))
    except (OSError, NictestError) as exc:
        raise _rolled_back(root, entry, journal, exc, timeout, use_udev) from exc
    entry = journal.update(name, state="created")
    seconds = round(time.monotonic() - started, 3)
    log.info("created %d VF(s) on %s in %.3f s: %s", plan.num_vfs, name, seconds, ", ".join(entry["vfs"]))
    return {"pf": name, "vfs": [_vf_view(root, vf) for vf in entry["vfs"]], "num_vfs": plan.num_vfs,
            "seconds": seconds, "journal": entry}


def _vf_view(root: PathLike, address: str) -> Dict[str, Any]:
    return {"address": address, "driver": state.driver(root, address), "netdevs": state.netdevs(root, address),
            "iommu_group": state.iommu_group(root, address)}


def _created_problems(root: PathLike, entry: Dict[str, Any]) -> List[str]:
    found = virtfns(root, entry["address"])
    if found != entry["vfs"]:
        return [f"VFs are at {', '.join(found) or 'no address'}, expected {', '.join(entry['vfs'])} "
                "(from the PF's First VF Offset and VF Stride)"]
    return _pf_problems(root, entry)


def _pf_problems(root: PathLike, entry: Dict[str, Any]) -> List[str]:
    address, saved = entry["address"], entry.get("net") or {}
    problems = []
    driver = state.driver(root, address)
    if driver != entry.get("driver"):
        problems.append(f"PF driver is {driver or 'none'}, expected {entry.get('driver')}")
    if saved.get("netdev"):
        actual = state.netdev_now(root, address, saved["netdev"])
        now = netstate.snapshot(root, actual) if actual else {}
        problems += netstate.differences(root, saved, actual, now)
        operstate = now.get("operstate")
        if saved.get("operstate") == "up" and operstate != "up":
            # The PF's driver resets the port to change its VFs: its link must come back.
            problems.append(f"PF link {actual} is {operstate or 'gone'}, it was up")
    return problems


def _wait_pf(root: PathLike, entry: Dict[str, Any], watch: Watch, timeout: float, when: str) -> None:
    """Wait until the PF's netdev is back as recorded (name, MAC, MTU, flags, and the link if it was up)."""
    saved = entry.get("net") or {}
    if not saved.get("netdev"):
        return
    watch.wait(lambda: not _pf_problems(root, entry), f"PF {entry['address']} netdev {saved['netdev']} {when}",
               timeout)


def remove(root: PathLike, entry: Dict[str, Any], journal: Optional[Journal], timeout: float = DEFAULT_TIMEOUT,
           use_udev: bool = True) -> Dict[str, Any]:
    """Disable the entry's VFs and put the PF's sriov_numvfs back; the VFs' own bind entries must have
    been restored before (the caller holds their locks; see vf_entries). Returns {pf, num_vfs, ...}."""
    started = time.monotonic()
    name = entry["address"]
    was = int(entry.get("num_vfs_was") or 0)
    steps: List[str] = []
    try:
        with Watch(name, use_udev) as watch:
            current = read_sriov(root, name)
            if current is None:
                raise BindError(f"{name} has no SR-IOV attributes any more (device gone, or its driver unbound)")
            if current.num_vfs != was:
                # The kernel refuses numvfs N -> M with both non-zero (EBUSY): through 0, always.
                sysfs_write.write(root, f"sys/bus/pci/devices/{name}/sriov_numvfs", "0")
                steps.append("sriov_numvfs 0")
                if was:
                    sysfs_write.write(root, f"sys/bus/pci/devices/{name}/sriov_numvfs", str(was))
                    steps.append(f"sriov_numvfs {was}")
            _wait_pf(root, entry, watch, timeout, "after disabling the VFs")
            was_param = entry.get("enable_sriov_was")
            if was_param and enable_sriov(root) != was_param:
                others = _other_vfio_pfs_with_vfs(root, name)
                if others:
                    # The parameter is the host's: another PF on vfio-pci still needs it to remove its VFs.
                    log.warning("vfio-pci enable_sriov left %s: %s still has VFs", enable_sriov(root),
                                ", ".join(others))
                    steps.append(f"enable_sriov left on for {', '.join(others)}")
                else:
                    # Only now: vfio-pci disables VFs only with enable_sriov on.
                    sysfs_write.write(root, ENABLE_SRIOV, was_param)
                    steps.append(f"enable_sriov {was_param}")
    except (OSError, NictestError) as exc:
        problem = f"removing the VFs of {name} failed after [{'; '.join(steps) or 'no step'}]: {exc}"
        keep_failed(journal, name, problem, state="remove-failed")
        raise BindError(f"{problem}; the journal entry is kept: fix the cause and run `nictest vf remove` "
                        f"(or `nictest restore`) for {name} again") from exc
    problems = _removed_problems(root, entry)
    if problems:
        problem = f"removing the VFs of {name} could not be verified: {'; '.join(problems)}"
        keep_failed(journal, name, problem, state="remove-failed")
        raise BindError(f"{problem}; the journal entry is kept: run `nictest vf remove` for {name} again")
    if journal is not None:
        if entry.get("pf_bind"):
            journal.write(entry["pf_bind"])  # the PF on vfio-pci, as its bind left it
        else:
            journal.remove(name)
    seconds = round(time.monotonic() - started, 3)
    log.info("removed the VFs of %s (sriov_numvfs %d) in %.3f s", name, was, seconds)
    saved = entry.get("net") or {}
    return {"address": name, "pf": name, "num_vfs": was, "driver": entry.get("driver"),
            "netdev": saved.get("netdev"), "mac": saved.get("mac"), "steps": steps, "restore_seconds": seconds}


def _removed_problems(root: PathLike, entry: Dict[str, Any]) -> List[str]:
    now_state = read_sriov(root, entry["address"])
    was = int(entry.get("num_vfs_was") or 0)
    problems = []
    if now_state is None or now_state.num_vfs != was:
        problems.append(f"sriov_numvfs is {None if now_state is None else now_state.num_vfs}, expected {was}")
    left = [vf for vf in entry.get("vfs", []) if vf in virtfns(root, entry["address"])] if not was else []
    if left:
        problems.append(f"VF(s) {', '.join(left)} still present")
    was_param = entry.get("enable_sriov_was")
    if was_param and enable_sriov(root) != was_param and not _other_vfio_pfs_with_vfs(root, entry["address"]):
        problems.append(f"vfio-pci enable_sriov is {enable_sriov(root)}, it was {was_param}")
    return problems + _pf_problems(root, entry)


def _other_vfio_pfs_with_vfs(root: PathLike, address: str) -> List[str]:
    """PFs other than `address` on vfio-pci with VFs enabled (they need enable_sriov to remove them)."""
    bound = under(root, "sys/bus/pci/drivers", VFIO)
    names = sorted(os.listdir(bound)) if os.path.isdir(bound) else []
    return [n for n in names if n != address and (read_text(under(root, "sys/bus/pci/devices", n, "sriov_numvfs"))
                                                  or "0") != "0"]


def enable_sriov(root: PathLike) -> Optional[str]:
    """vfio-pci's enable_sriov as the kernel shows it ("Y"/"N"), None if vfio-pci is not loaded."""
    return read_text(under(root, ENABLE_SRIOV))


def vf_entries(journal: Journal, entry: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The bind entries of this PF's VFs (a VF bound to vfio-pci has its own), to restore before remove()."""
    found = []
    for vf in entry.get("vfs", []):
        vf_entry = journal.read(vf)
        if vf_entry is not None:
            found.append(vf_entry)
    return found


def _rolled_back(root: PathLike, entry: Dict[str, Any], journal: Journal, cause: BaseException, timeout: float,
                 use_udev: bool) -> BindError:
    what = f"creating {entry['num_vfs']} VF(s) on {entry['address']} failed: {cause}"
    log.error("%s; removing them again", what)
    try:
        remove(root, entry, journal, timeout, use_udev)
    except NictestError as exc:
        return BindError(f"{what}. Removing them failed too: {exc}")
    return BindError(f"{what}. Rolled back: sriov_numvfs is {entry['num_vfs_was']} again and the PF is as before")
