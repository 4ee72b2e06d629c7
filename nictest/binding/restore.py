"""Give a device back to the driver its journal entry recorded, and verify every part of it.

restore = unbind from the user-space driver -> put back driver_override (clear:
"\\n") -> drivers_probe -> wait for the netdev (udev done renaming) -> put back
name, MAC, MTU, link, addresses -> VERIFY. The journal entry is removed only
after verification passed; otherwise it stays and BindError says what differs.
Idempotent: it works from any point a bind or an earlier restore stopped at.
A device that no longer exists (hot-unplugged while bound) has nothing to give back:
its entry is closed with "device gone" (a device that returns is a new one, probed
by its kernel driver with no override).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional

from nictest.binding import netstate, state, sysfs_write
from nictest.binding.journal import Journal, keep_failed
from nictest.binding.phases import Phases
from nictest.binding.udev import DEFAULT_TIMEOUT, Watch
from nictest.errors import BindError, NictestError, UdevTimeout
from nictest.pci.sysfs import PathLike

log = logging.getLogger("nictest.binding")
# Seconds to let udev finish naming a re-probed netdev before nictest renames it itself.
RENAME_GRACE = 2.0


def restore(root: PathLike, entry: Dict[str, Any], journal: Optional[Journal],
            timeout: float = DEFAULT_TIMEOUT, use_udev: bool = True, phases: Optional[Phases] = None) -> Dict[str, Any]:
    """Restore the device of `entry`; returns {address, driver, netdev, changed, restore_seconds, phases}."""
    phases = phases or Phases()
    address = entry["address"]
    original = entry.get("driver")
    saved = entry.get("net") or {"netdev": None}
    started = time.monotonic()
    if not state.exists(root, address):
        return _gone(journal, entry, started)
    steps: List[str] = []
    try:
        with Watch(address, use_udev) as watch:
            phases.mark("udev_monitor")
            _kernel_side(root, entry, watch, timeout, steps, phases)
            changed = (_net_side(root, address, saved, watch, timeout, steps, phases)
                       if original and saved.get("netdev") else [])
    except (OSError, NictestError) as exc:
        problem = f"restore of {address} to {original or 'no driver'} failed after [{'; '.join(steps)}]: {exc}"
        keep_failed(journal, address, problem)
        raise BindError(f"{problem}; state left: {state.describe(root, address)}; the journal entry is kept: "
                        f"fix the cause and run `nictest restore` for {address} again") from exc
    problems = verify(root, entry)
    phases.mark("verify")
    if problems:
        problem = f"restore of {address} could not be verified: {'; '.join(problems)}"
        keep_failed(journal, address, problem)
        raise BindError(f"{problem}; state left: {state.describe(root, address)}; the journal entry is kept: "
                        f"run `nictest restore` for {address} again or fix it by hand")
    if journal is not None:
        journal.remove(address)
        phases.mark("journal")
    seconds = round(time.monotonic() - started, 3)
    log.info("restored %s to %s in %.3f s", address, original or "no driver", seconds)
    return {"address": address, "driver": original, "netdev": saved.get("netdev"), "mac": saved.get("mac"),
            "changed": changed, "steps": steps, "restore_seconds": seconds, "phases": phases.seconds}


def _gone(journal: Optional[Journal], entry: Dict[str, Any], started: float) -> Dict[str, Any]:
    address = entry["address"]
    if journal is not None:
        journal.remove(address)
    log.warning("%s is gone (removed while bound to %s): journal entry closed, nothing to restore",
                address, entry.get("target") or "a user-space driver")
    return {"address": address, "driver": entry.get("driver"), "netdev": None, "mac": None, "changed": [],
            "steps": ["device gone: journal entry closed"], "gone": True, "restored": False,
            "reason": "device gone", "restore_seconds": round(time.monotonic() - started, 3)}


def _kernel_side(root: PathLike, entry: Dict[str, Any], watch: Watch, timeout: float, steps: List[str],
                 phases: Phases) -> None:
    address, original = entry["address"], entry.get("driver")
    current = state.driver(root, address)
    if current is not None and current != original:
        sysfs_write.write(root, f"sys/bus/pci/drivers/{current}/unbind", address)
        steps.append(f"unbound from {current}")
        watch.wait(lambda: state.driver(root, address) is None, f"unbind from {current}", timeout)
        phases.mark("unbind")
    sysfs_write.write(root, f"sys/bus/pci/devices/{address}/driver_override", entry.get("driver_override") or "\n")
    steps.append(f"driver_override set to {entry.get('driver_override') or '(null)'}")
    if original and state.driver(root, address) != original:
        sysfs_write.write(root, "sys/bus/pci/drivers_probe", address)
        steps.append("drivers_probe")
        watch.wait(lambda: state.driver(root, address) == original, f"re-probe by {original}", timeout)
        phases.mark("probe")


def _net_side(root: PathLike, address: str, saved: Dict[str, Any], watch: Watch, timeout: float,
              steps: List[str], phases: Phases) -> List[str]:
    name = saved["netdev"]

    def named() -> bool:
        names = state.netdevs(root, address)
        # udev-source events come after udev's rules ran: once "net add" is seen the name is final
        return bool(names) and (name in names or watch.saw("add", "net") or not watch.use_udev)

    watch.wait(named, f"netdev {name} to come back", timeout)
    if name not in state.netdevs(root, address) and watch.use_udev:
        # udev may still be renaming it to the saved name (its add event can come first):
        # give it a moment before renaming it ourselves.
        try:
            watch.wait(lambda: name in state.netdevs(root, address), f"udev to name {name}", RENAME_GRACE)
        except UdevTimeout:
            pass
    phases.mark("netdev")
    current = state.netdevs(root, address)
    current_name = name if name in current else current[0]
    changed = netstate.put_back(root, current_name, saved)
    phases.mark("put_back")
    steps.append(f"netdev {current_name} put back ({', '.join(changed) or 'nothing to change'})")
    return changed


def verify(root: PathLike, entry: Dict[str, Any]) -> List[str]:
    """Everything that does not match the journal entry now; [] when fully restored."""
    address = entry["address"]
    problems = []
    driver = state.driver(root, address)
    if driver != entry.get("driver"):
        problems.append(f"driver is {driver or 'none'}, expected {entry.get('driver') or 'none'}")
    override = state.override(root, address)
    if override != entry.get("driver_override"):
        problems.append(f"driver_override is {override or '(null)'}, expected {entry.get('driver_override') or '(null)'}")
    saved = entry.get("net") or {}
    if saved.get("netdev") and driver == entry.get("driver"):
        problems += netstate.differences(root, saved, state.netdev_now(root, address, saved["netdev"]))
    return problems
