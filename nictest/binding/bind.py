"""Move a checked device to its user-space driver, or roll it back and say why.

bind = (safety.check_bind already passed) -> modprobe if needed -> journal entry
-> driver_override -> unbind -> drivers_probe -> wait (udev) ->
verify (driver, netdev gone, device node). Any failure after the journal was
written is rolled back with restore(); BindError then says what happened and
what state the device was left in.
"""
from __future__ import annotations

import datetime
import logging
import os
import subprocess
import time
from typing import Any, Dict, List, Optional

from nictest.binding import netstate, state, sysfs_write
from nictest.binding.drivers import VFIO
from nictest.binding.journal import Journal
from nictest.binding.phases import Phases
from nictest.binding.restore import restore
from nictest.binding.safety import Plan
from nictest.binding.udev import DEFAULT_TIMEOUT, Watch
from nictest.errors import BindError, NictestError, PrerequisiteMissing
from nictest.pci.sysfs import PathLike, under

log = logging.getLogger("nictest.binding")


def modprobe(module: str) -> None:
    argv = ["modprobe", module]
    log.info("run %s", " ".join(argv))
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrerequisiteMissing(f"cannot run modprobe {module}: {exc}; install kmod") from exc
    if done.returncode != 0:
        raise PrerequisiteMissing(
            f"modprobe {module} failed: {done.stderr.decode().strip()}; install the module for this kernel "
            "(see dmesg); nothing was bound")


def preload_for_checks(root: PathLike, address: str, driver: str) -> None:
    """vfio's no-IOMMU parameter only shows once vfio is loaded: load vfio (touches no device) first."""
    if driver.replace("_", "-") != VFIO:
        return
    if os.path.exists(under(root, "sys/bus/pci/devices", address, "iommu_group")):
        return
    if not os.path.isdir(under(root, "sys/module/vfio")):
        try:
            modprobe("vfio")
        except PrerequisiteMissing as exc:
            log.info("vfio core not loadable (%s); the safety check will refuse", exc)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def journal_entry(root: PathLike, plan: Plan, owner: Dict[str, Any], persistent: bool) -> Dict[str, Any]:
    device = plan.device
    address = str(device.address)
    return {
        "address": address,
        "driver": state.driver(root, address),
        "driver_override": state.override(root, address),
        "net": netstate.snapshot(root, device.netdev),
        "target": plan.target.name,
        "persistent": persistent,
        "noiommu": plan.noiommu,
        "owner": dict(owner),
        "bound_at": now(),
        "state": "binding",
    }


def bind(root: PathLike, plan: Plan, journal: Journal, owner: Dict[str, Any], persistent: bool = False,
         timeout: float = DEFAULT_TIMEOUT, use_udev: bool = True, pause_after_unbind: float = 0.0,
         phases: Optional[Phases] = None) -> Dict[str, Any]:
    """Bind the checked device; returns {address, driver, device_node, iommu_group, seconds, phases, journal}."""
    started = time.monotonic()
    phases = phases or Phases()
    address, target = str(plan.device.address), plan.target.name
    if plan.needs_modprobe:
        modprobe(plan.target.module)
        phases.mark("modprobe")
    entry = journal_entry(root, plan, owner, persistent)
    journal.write(entry)  # before the first write to sysfs
    phases.mark("journal")
    steps: List[str] = []
    try:
        with Watch(address, use_udev) as watch:
            phases.mark("udev_monitor")
            switch(root, entry, watch, timeout, steps, pause_after_unbind, phases)
        node = state.device_node(root, address, target)
        problems = verify(root, address, target, node)
        if problems:
            raise BindError("; ".join(problems))
        phases.mark("verify")
    except (OSError, NictestError) as exc:
        raise _rolled_back(root, entry, journal, steps, exc, timeout, use_udev) from exc
    # No directory fsync: if a crash loses this rename, the "binding" entry already on disk
    # restores the device exactly the same way (restore reads driver, override and net only).
    group = state.iommu_group(root, address)
    entry = dict(entry, state="bound", device_node=node, iommu_group=group)
    journal.write(entry, sync_dir=False)  # the entry in hand: nothing else writes it while we hold the lock
    phases.mark("journal")
    seconds = round(time.monotonic() - started, 3)
    log.info("bound %s to %s (%s) in %.3f s", address, target, node, seconds)
    return {"address": address, "driver": target, "device_node": node,
            "iommu_group": group, "seconds": seconds, "bind_seconds": seconds,
            "phases": phases.seconds, "steps": steps, "journal": entry}


def switch(root: PathLike, entry: Dict[str, Any], watch: Watch, timeout: float, steps: List[str],
           pause_after_unbind: float = 0.0, phases: Optional[Phases] = None) -> None:
    """driver_override -> unbind -> drivers_probe for one device of `entry` (a device's own
    entry, or one member of a group entry), waiting for each step."""
    address, target, original = entry["address"], entry["target"], entry["driver"]
    phases = phases or Phases()
    # No separate link down: unbinding unregisters the netdev, which closes it (saves a slow
    # round of e1000e down work); whether it was up is in the journal for the restore.
    sysfs_write.write(root, f"sys/bus/pci/devices/{address}/driver_override", target)
    steps.append(f"driver_override set to {target}")
    if original:
        sysfs_write.write(root, f"sys/bus/pci/drivers/{original}/unbind", address)
        steps.append(f"unbound from {original}")
        watch.wait(lambda: state.driver(root, address) is None and not state.netdevs(root, address),
                   f"unbind from {original} (driver gone, netdev removed)", timeout)
        phases.mark("unbind")
    if pause_after_unbind > 0:  # crash-test hook: the device is driverless right now
        log.warning("test hook: pausing %.1f s between unbind and drivers_probe of %s", pause_after_unbind, address)
        time.sleep(pause_after_unbind)
    sysfs_write.write(root, "sys/bus/pci/drivers_probe", address)
    steps.append("drivers_probe")
    watch.wait(lambda: state.driver(root, address) == target and state.device_node(root, address, target) is not None,
               f"bind to {target} with its device node", timeout)
    phases.mark("probe")
    steps.append(f"bound to {target}")


def verify(root: PathLike, address: str, target: str, node: object) -> List[str]:
    problems = []
    driver = state.driver(root, address)
    if driver != target:
        problems.append(f"driver is {driver or 'none'} after drivers_probe, expected {target}")
    if state.netdevs(root, address):
        problems.append(f"netdev {', '.join(state.netdevs(root, address))} still present")
    if node is None:
        problems.append(f"no device node ({'/dev/vfio/<group>' if target == VFIO else '/dev/uioN'}) appeared")
    return problems


def _rolled_back(root: PathLike, entry: Dict[str, Any], journal: Journal, steps: List[str], cause: BaseException,
                 timeout: float, use_udev: bool) -> BindError:
    address, target = entry["address"], entry["target"]
    what = f"bind of {address} to {target} failed after [{'; '.join(steps) or 'no step'}]: {cause}"
    log.error("%s; rolling back", what)
    try:
        restore(root, entry, journal, timeout, use_udev)
    except NictestError as exc:
        return BindError(f"{what}. Rolling back failed too: {exc}")
    return BindError(f"{what}. Rolled back: {state.describe(root, address)} (as before); nothing is left bound")
