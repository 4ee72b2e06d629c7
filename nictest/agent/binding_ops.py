"""Agent ops for binding: session, bind, restore, restore_all, journal, stale.

The Binding service (one per agent) holds the allow-list, the owner record and
the locks of the devices this agent holds. Dead man's switch: its close() restores
every non-persistent device this agent still holds when stdin closes, the lease
runs out or SIGTERM/SIGHUP arrives; it closes last (service.py), after the Ports
service has closed every port, and restore closes a device's ports first itself. Persistent binds
(`nictest bind`) release their lock at once and survive the agent; journal()
lists them as persistent. A journal entry nobody holds that is not persistent
is stale (its agent died: kill -9, reboot) and is restored by restore_all.

A group bind (bind with group=True) holds the lock of every member of the IOMMU
group, taken in address order, and writes one journal entry for the group; every
op that finds a device through the journal (bind's refusal, restore, restore_all,
the dead man's switch) finds the group entry from any member and acts on all of them.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Any, Dict, List, Optional

from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.agent.service import Service
from nictest.binding import bind as binder
from nictest.binding import group as grouper
from nictest.binding import restore as restorer
from nictest.binding import safety, sriov
from nictest.binding.drivers import modprobe_dry_run
from nictest.binding.journal import Journal, is_group, member_addresses
from nictest.binding.locks import DeviceLock, Locks
from nictest.binding.phases import Phases
from nictest.errors import BindError, DeviceHeld, NictestError, RefusedError
from nictest.pci import PciAddress
from nictest.pci.groups import group_members, iommu_group_of

log = logging.getLogger("nictest.binding")


class BindingState(Service):
    close_order = 90

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self.root = os.environ.get("NICTEST_SYSFS_ROOT", "/")
        self.use_udev = self.root == "/"
        self.journal = Journal()
        self.locks = Locks()
        self.allowed: Optional[List[str]] = None
        # Until the session op names it: the SSH client's address (a resident agent's client
        # brings its own, so not this process's $SSH_CONNECTION).
        self.controller = agent.session_ip or f"local:{socket.gethostname()}"
        self.held: Dict[str, DeviceLock] = {}

    def owner(self) -> Dict[str, Any]:
        return {"controller": self.controller, "pid": os.getpid(), "host": socket.gethostname(),
                "since": binder.now()}

    def holds(self) -> bool:
        return bool(self.held)

    def close(self) -> None:
        self.dead_mans_switch()

    def dead_mans_switch(self) -> None:
        for address in sorted(self.held):
            if address not in self.held:
                continue  # released with its group a moment ago
            try:
                entry = self.journal.entry_for(address)
            except NictestError as exc:
                log.error("dead man's switch cannot read the journal entry of %s: %s", address, exc)
                continue
            if entry is not None and entry.get("persistent"):
                continue
            log.warning("controller gone: restoring %s", address)
            try:
                self.restore_held(address, entry)
            except NictestError as exc:
                log.error("dead man's switch could not restore %s: %s", address, exc)
        for address in list(self.held):
            self.release(address)

    def restore_held(self, address: str, entry: Optional[Dict[str, Any]],
                     phases: Optional[Phases] = None) -> Dict[str, Any]:
        covered = member_addresses(entry) if entry is not None else [address]
        phases = phases or Phases()
        # An open port keeps /dev/vfio/N busy: unbinding vfio-pci would block on it.
        for member in covered:
            ports(self.agent).close_address(member)
        phases.mark("ports")
        try:
            if entry is None:
                return {"address": address, "restored": False, "reason": "no journal entry: nothing to restore"}
            if sriov.is_sriov(entry):
                from nictest.agent import sriov_ops  # its VFs' entries first, then sriov_numvfs (and the PF)
                result = sriov_ops.remove_all(self, entry)
            elif is_group(entry):
                result = grouper.restore_group(self.root, entry, self.journal, use_udev=self.use_udev)
            else:
                result = restorer.restore(self.root, entry, self.journal, use_udev=self.use_udev, phases=phases)
            result.setdefault("restored", True)  # False: the device is gone
            return result
        finally:
            for member in set(covered) | {address}:
                self.release(member)

    def acquire(self, addresses: List[str]) -> None:
        """Take every lock not held yet, in address order (all or none: DeviceHeld frees the rest)."""
        taken = []
        try:
            for address in sorted(set(addresses), key=PciAddress.parse):
                if address not in self.held:
                    self.held[address] = self.locks.acquire(address, self.owner())
                    taken.append(address)
        except BaseException:
            for address in taken:
                self.release(address)
            raise

    def release(self, address: str) -> None:
        lock = self.held.pop(address, None)
        if lock is not None:
            lock.release()

    def classify(self, entry: Dict[str, Any]) -> str:
        for address in member_addresses(entry):
            if address in self.held or not self.locks.is_free(address):
                return "held"
        return "persistent" if entry.get("persistent") else "stale"


def state(agent) -> BindingState:
    """This agent's Binding service."""
    return agent.service(BindingState)


def _addr(address: str) -> str:
    return str(PciAddress.parse(address))


@op("session", allowed=(list, type(None)), controller=str, lease=(int, float))
def session(agent, allowed=None, controller="", lease=0) -> dict:
    """lease: seconds of silence while holding a NIC before the agent restores it (0: keep the current)."""
    st = state(agent)
    if lease:
        agent.set_lease(lease)
    st.allowed = None if allowed is None else [_addr(a) for a in allowed]
    if controller:
        st.controller = controller
    return {"allowed": st.allowed, "controller": st.controller, "pid": os.getpid(),
            "journal_dir": st.journal.dir, "lock_dir": st.locks.dir, "lease": agent.lease}


@op("bind", address=str, driver=str, force=bool, any_class=bool, allow_uio=bool, persistent=bool,
    pause_after_unbind=(int, float), group=bool, pause_between_members=(int, float))
def bind(agent, address, driver, force=False, any_class=False, allow_uio=False, persistent=False,
         pause_after_unbind=0, group=False, pause_between_members=0) -> dict:
    """group: bind every endpoint of `address`'s IOMMU group to vfio-pci as one unit.
    pause_after_unbind / pause_between_members: test hooks (off by default, at most 60 s): sleep
    with the device driverless, or between two members of a group, so crash tests can kill the
    controller, the agent or a module at that moment."""
    phases = Phases()
    st = state(agent)
    address = _addr(address)
    covered = _group_of(st, address) if group else [address]
    mine = [a for a in covered if a in st.held]
    if mine:
        entry = st.journal.entry_for(mine[0]) or {}
        if sriov.is_sriov(entry):
            raise RefusedError(f"{mine[0]} has {len(entry.get('vfs', []))} VF(s) created by this session; "
                               f"remove them first (`nictest vf remove --host <host> {mine[0]}`)")
        raise RefusedError(f"{mine[0]} is already bound to {entry.get('target')} by this session; "
                           "restore it first")
    st.acquire(covered)  # DeviceHeld naming the holder if another agent has any of them
    try:
        for member in covered:
            refuse_journalled(st, member)
        phases.mark("locks")
        binder.preload_for_checks(st.root, address, driver)
        checks = _checks(agent, st, force, any_class, allow_uio)
        if group:
            plan = safety.check_group(st.root, address, driver, **checks)
            result = grouper.bind_group(st.root, plan, st.journal, st.owner(), persistent=persistent,
                                        use_udev=st.use_udev, pause_between_members=_hook(pause_between_members))
        else:
            plan = safety.check_bind(st.root, address, driver, **checks)
            phases.mark("checks")
            result = binder.bind(st.root, plan, st.journal, st.held[address].owner, persistent=persistent,
                                 use_udev=st.use_udev, pause_after_unbind=_hook(pause_after_unbind), phases=phases)
    except BaseException:
        for member in covered:
            st.release(member)
        raise
    if persistent:
        for member in covered:
            st.release(member)  # survives the agent; `nictest restore` takes it back
    return result


def _checks(agent, st: BindingState, force: bool, any_class: bool, allow_uio: bool) -> dict:
    """check_bind's / check_group's keyword arguments: the session, the allow-list, the opt-ins."""
    return dict(session_ip=agent.session_ip, session_local=agent.session_local, allowed=st.allowed,
                force=force, any_class=any_class, allow_uio=allow_uio,
                dry_run=modprobe_dry_run if st.use_udev else None)


def _check(agent, st: BindingState, address: str, driver: str, force: bool, any_class: bool,
           allow_uio: bool) -> safety.Plan:
    return safety.check_bind(st.root, address, driver, **_checks(agent, st, force, any_class, allow_uio))


@op("bind_check", address=str, driver=str, force=bool, any_class=bool, allow_uio=bool)
def bind_check(agent, address, driver, force=False, any_class=False, allow_uio=False) -> dict:
    """Every safety check a bind runs, touching nothing: {"refused": None | message, ...}.

    Tests prove a refusal here instead of asking for a real bind they hope is refused
    (a regressed guard would cut the session). The allow-list applies as for bind.
    Unlike bind it does not load the vfio core first, so on a host where vfio is not
    loaded yet a no-IOMMU device reads as refused where bind might go ahead.
    """
    st = state(agent)
    address = _addr(address)
    try:
        plan = _check(agent, st, address, driver, force, any_class, allow_uio)
    except NictestError as exc:  # RefusedError, or a prerequisite the bind would stop on (PrerequisiteMissing)
        return {"address": address, "driver": driver, "refused": str(exc), "reason": type(exc).__name__}
    return {"address": address, "driver": driver, "refused": None, "reason": None,
            "target": plan.target.name, "module": plan.module, "netdev": plan.device.netdev,
            "carries_session": plan.device.carries_session, "active_reasons": list(plan.device.active_reasons)}


def _hook(seconds) -> float:
    return min(max(float(seconds), 0.0), 60.0)


def _group_of(st: BindingState, address: str) -> List[str]:
    """Every member of `address`'s IOMMU group (bridges too: the locks cover the whole group)."""
    members = [m.address for m in group_members(st.root, iommu_group_of(st.root, address))]
    return members if address in members else [address]  # no group: check_group refuses with the reason


def refuse_journalled(st: BindingState, address: str) -> None:
    entry = st.journal.entry_for(address)
    if entry is None:
        return
    kind = "persistent" if entry.get("persistent") else "stale"
    if sriov.is_sriov(entry):
        raise RefusedError(
            f"{address} has {len(entry.get('vfs', []))} VF(s) created by nictest ({kind}, by "
            f"{(entry.get('owner') or {}).get('controller')} at {entry.get('bound_at')}); "
            f"run `nictest vf remove --host <host> {address}` first")
    what = (f"IOMMU group {entry.get('group')} entry ({', '.join(member_addresses(entry))})" if is_group(entry)
            else "journal entry")
    raise RefusedError(
        f"{address} has a {kind} {what} (bound to {entry.get('target')} by "
        f"{(entry.get('owner') or {}).get('controller')} at {entry.get('bound_at')}); "
        f"run `nictest restore --host <host> {entry['address']}` first")


@op("restore", address=str)
def restore(agent, address) -> dict:
    """Restore `address`, or the whole group whose entry covers it."""
    phases = Phases()
    st = state(agent)
    address = _addr(address)
    entry = st.journal.entry_for(address)
    covered = member_addresses(entry) if entry is not None else [address]
    st.acquire(covered)  # DeviceHeld if another agent has any of them
    entry = st.journal.entry_for(address)
    phases.mark("locks")
    return st.restore_held(address, entry, phases)


@op("restore_all", stale_only=bool)
def restore_all(agent, stale_only=True) -> list:
    """Restore stale entries (stale_only) or every entry nobody else holds; raises if any failed."""
    st = state(agent)
    done, failed = [], []
    for entry in st.journal.entries():
        address = entry["address"]
        if "error" in entry:
            failed.append(f"{address}: {entry['error']}")
            continue
        kind = st.classify(entry)
        covered = member_addresses(entry)
        if kind == "held" and not all(a in st.held for a in covered):
            continue  # another agent's: never ours to take
        if stale_only and kind != "stale":
            continue
        if st.journal.read(address) is None:
            continue  # restored with an entry before it (a VF's, with its PF's VFs)
        try:
            st.acquire(covered)
            result = st.restore_held(address, st.journal.read(address))
            result["was"] = kind
            done.append(result)
        except (DeviceHeld, BindError, NictestError) as exc:
            failed.append(f"{address}: {exc}")
    if failed:
        restored = ", ".join(r["address"] for r in done) or "none"
        raise BindError(f"restore_all: {len(failed)} device(s) not restored: {' | '.join(failed)} "
                        f"(restored: {restored})")
    return done


def _summary(entry: Dict[str, Any], kind: str) -> Dict[str, Any]:
    return dict(entry, kind=kind)


@op("journal")
def journal(agent) -> dict:
    """Cheap (reads small files, probes locks): {held: [...], stale: [...], persistent: [...]}."""
    st = state(agent)
    groups: Dict[str, list] = {"held": [], "stale": [], "persistent": []}
    for entry in st.journal.entries():
        kind = st.classify(entry)
        item = _summary(entry, kind)
        item["held_by_this_agent"] = entry["address"] in st.held
        if kind == "held" and not item["held_by_this_agent"]:
            item["holder"] = st.locks.holder(entry["address"])
        groups[kind].append(item)
    return groups


@op("stale")
def stale(agent) -> list:
    """Journal entries whose lock is free and that are not persistent: what `nictest status` warns about."""
    return journal(agent)["stale"]


@op("device_nodes", address=str)
def device_nodes(agent, address) -> dict:
    """The user-space device nodes that exist for `address` now (/dev/vfio/N, /dev/uioX)."""
    st = state(agent)
    address = _addr(address)
    device_dir = os.path.join(st.root, "sys/bus/pci/devices", address)
    nodes = []
    group_link = os.path.join(device_dir, "iommu_group")
    if os.path.islink(group_link):
        group = os.path.basename(os.readlink(group_link))
        nodes.append(f"/dev/vfio/{group}")
    uio_dir = os.path.join(device_dir, "uio")
    if os.path.isdir(uio_dir):
        nodes += [f"/dev/{name}" for name in sorted(os.listdir(uio_dir))]
    return {"address": address, "nodes": [n for n in nodes if os.path.exists(os.path.join(st.root, n.lstrip("/")))],
            "vfio_container": os.path.exists(os.path.join(st.root, "dev/vfio/vfio"))}
