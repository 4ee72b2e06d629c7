"""Bind a whole IOMMU group to vfio-pci as one unit, and give it back as one.

bind_group = (safety.check_group already passed for every endpoint) -> modprobe
if needed -> ONE journal entry for the group, with every endpoint's original
driver / override / netdev state, written before the first sysfs write -> each
endpoint in address order: driver_override, unbind, drivers_probe, wait ->
verify. Bridges in the group are left as they are (check_group made sure they
do not block VFIO). Any failure rolls every endpoint back, in reverse order.

restore_group gives the endpoints back in reverse bind order, each verified
like a single restore; the entry is removed only when all of them are back, and
a member that could not be restored keeps the whole entry (a replay retries it:
restore is idempotent from any point a bind or an earlier restore stopped at).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional

from nictest.binding import netstate, state
from nictest.binding.bind import modprobe, now, switch, verify
from nictest.binding.journal import Journal, keep_failed
from nictest.binding.restore import restore
from nictest.binding.safety import GroupPlan
from nictest.binding.udev import DEFAULT_TIMEOUT, Watch
from nictest.errors import BindError, NictestError
from nictest.pci.sysfs import PathLike

log = logging.getLogger("nictest.binding")

PENDING, BOUND, RESTORED = "pending", "bound", "restored"  # a member's state in the entry


def group_entry(root: PathLike, plan: GroupPlan, owner: Dict[str, Any], persistent: bool) -> Dict[str, Any]:
    """The journal record of the group before anything moves: each endpoint as it is now."""
    members = []
    for member in plan.plans:
        address = str(member.device.address)
        members.append({
            "address": address,
            "driver": state.driver(root, address),
            "driver_override": state.override(root, address),
            "net": netstate.snapshot(root, member.device.netdev),
            "target": member.target.name,
            "state": PENDING,
        })
    return {
        "address": plan.endpoints[0],  # the entry's file: the group's first endpoint
        "group": plan.group,
        "requested": plan.requested,
        "members": members,
        "bridges": list(plan.bridges),
        "target": plan.plans[0].target.name,
        "persistent": persistent,
        "noiommu": False,
        "owner": dict(owner),
        "bound_at": now(),
        "state": "binding",
    }


def bind_group(root: PathLike, plan: GroupPlan, journal: Journal, owner: Dict[str, Any], persistent: bool = False,
               timeout: float = DEFAULT_TIMEOUT, use_udev: bool = True,
               pause_between_members: float = 0.0) -> Dict[str, Any]:
    """Bind every endpoint of the checked group; returns {address, group, driver, device_node, members, ...}.
    pause_between_members: a crash-test hook, a sleep after each member but the last is bound."""
    started = time.monotonic()
    if any(p.needs_modprobe for p in plan.plans):
        modprobe(plan.plans[0].target.module)
    entry = group_entry(root, plan, owner, persistent)
    journal.write(entry)  # before the first write to sysfs, for every member
    steps: List[str] = []
    results = []
    try:
        for index, member in enumerate(entry["members"]):
            results.append(_bind_member(root, member, timeout, use_udev, steps))
            member.update(state=BOUND, device_node=results[-1]["device_node"])
            journal.write(entry)
            if pause_between_members > 0 and index < len(entry["members"]) - 1:
                log.warning("test hook: pausing %.1f s after %s, before the next member of group %s",
                            pause_between_members, member["address"], plan.group)
                time.sleep(pause_between_members)
    except (OSError, NictestError) as exc:
        raise _rolled_back(root, entry, journal, steps, exc, timeout, use_udev) from exc
    node = results[0]["device_node"]
    seconds = round(time.monotonic() - started, 3)
    entry = journal.update(entry["address"], state="bound", device_node=node, iommu_group=plan.group)
    log.info("bound IOMMU group %s (%s) to %s in %.3f s", plan.group, ", ".join(plan.endpoints),
             entry["target"], seconds)
    return {"address": plan.requested, "group": plan.group, "members": results, "bridges": list(plan.bridges),
            "driver": entry["target"], "device_node": node, "iommu_group": plan.group,
            "seconds": seconds, "bind_seconds": seconds, "steps": steps, "journal": entry}


def _bind_member(root: PathLike, member: Dict[str, Any], timeout: float, use_udev: bool,
                 steps: List[str]) -> Dict[str, Any]:
    address, target = member["address"], member["target"]
    own: List[str] = []
    try:
        with Watch(address, use_udev) as watch:
            switch(root, member, watch, timeout, own)
        node = state.device_node(root, address, target)
        problems = verify(root, address, target, node)
        if problems:
            raise BindError(f"{address}: {'; '.join(problems)}")
    finally:
        steps += [f"{address}: {text}" for text in own]
    return {"address": address, "driver": target, "device_node": node, "was": member["driver"],
            "netdev_was": (member.get("net") or {}).get("netdev")}


def _rolled_back(root: PathLike, entry: Dict[str, Any], journal: Journal, steps: List[str], cause: BaseException,
                 timeout: float, use_udev: bool) -> BindError:
    what = (f"bind of IOMMU group {entry['group']} ({', '.join(m['address'] for m in entry['members'])}) to "
            f"{entry['target']} failed after [{'; '.join(steps) or 'no step'}]: {cause}")
    log.error("%s; rolling every member back", what)
    try:
        restore_group(root, entry, journal, timeout, use_udev)
    except NictestError as exc:
        return BindError(f"{what}. Rolling back failed too: {exc}")
    back = "; ".join(f"{m['address']}: {state.describe(root, m['address'])}" for m in entry["members"])
    return BindError(f"{what}. Rolled back every member ({back}, as before); nothing is left bound")


def restore_group(root: PathLike, entry: Dict[str, Any], journal: Optional[Journal],
                  timeout: float = DEFAULT_TIMEOUT, use_udev: bool = True) -> Dict[str, Any]:
    """Give every member back, last bound first; returns {address, group, members, driver, netdev, ...}."""
    started = time.monotonic()
    done, failed = [], []
    for member in reversed(entry["members"]):
        try:
            result = restore(root, member, None, timeout, use_udev)
        except NictestError as exc:
            failed.append(f"{member['address']}: {exc}")
            continue
        member["state"] = RESTORED
        done.append(result)
    lead = entry["address"]
    if failed:
        problem = f"restore of IOMMU group {entry.get('group')}: {len(failed)} member(s) not back: {' | '.join(failed)}"
        keep_failed(journal, lead, problem, members=entry["members"])
        raise BindError(f"{problem}; restored: {', '.join(r['address'] for r in done) or 'none'}; the group's "
                        f"journal entry is kept: fix the cause and run `nictest restore` for {lead} again")
    if journal is not None:
        journal.remove(lead)
    seconds = round(time.monotonic() - started, 3)
    log.info("restored IOMMU group %s (%s) in %.3f s", entry.get("group"),
             ", ".join(r["address"] for r in done), seconds)
    first = next((r for r in done if r["address"] == lead), done[-1])
    return {"address": lead, "group": entry.get("group"), "members": done, "driver": first["driver"],
            "netdev": first["netdev"], "mac": first["mac"],
            "steps": [f"{r['address']}: {s}" for r in done for s in r["steps"]], "restore_seconds": seconds}
