"""Agent ops for binding: session, bind, restore, restore_all, journal, stale.

One BindingState per agent process holds the allow-list, the owner record and
the locks of the devices this agent holds. Dead man's switch: the first bind
registers a shutdown hook that restores every non-persistent device this agent
still holds when stdin closes or SIGTERM/SIGHUP arrives. Persistent binds
(`nictest bind`) release their lock at once and survive the agent; journal()
lists them as persistent. A journal entry nobody holds that is not persistent
is stale (its agent died: kill -9, reboot) and is restored by restore_all.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any, Dict, List, Optional

from nictest.agent.ops import op
from nictest.binding import bind as binder
from nictest.binding import restore as restorer
from nictest.binding import safety
from nictest.binding.drivers import modprobe_dry_run
from nictest.binding.journal import Journal
from nictest.binding.locks import DeviceLock, Locks
from nictest.errors import BindError, DeviceHeld, NictestError, RefusedError
from nictest.pci import PciAddress

log = logging.getLogger("nictest.binding")


class BindingState:
    def __init__(self, agent) -> None:
        self.agent = agent
        self.root = os.environ.get("NICTEST_SYSFS_ROOT", "/")
        self.use_udev = self.root == "/"
        self.journal = Journal()
        self.locks = Locks()
        self.allowed: Optional[List[str]] = None
        self.controller = _default_controller()
        self.held: Dict[str, DeviceLock] = {}
        self._hook_registered = False

    def owner(self) -> Dict[str, Any]:
        return {"controller": self.controller, "pid": os.getpid(), "host": socket.gethostname(),
                "since": binder.now()}

    def register_hook(self) -> None:
        if not self._hook_registered:
            self.agent.on_shutdown(self.dead_mans_switch)
            self._hook_registered = True

    def dead_mans_switch(self) -> None:
        for address in sorted(self.held):
            entry = self.journal.read(address)
            if entry is not None and entry.get("persistent"):
                continue
            log.warning("controller gone: restoring %s", address)
            try:
                self.restore_held(address, entry)
            except NictestError as exc:
                log.error("dead man's switch could not restore %s: %s", address, exc)
        for address in list(self.held):
            self.release(address)

    def restore_held(self, address: str, entry: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        pmd_ops = sys.modules.get("nictest.agent.pmd_ops")
        if pmd_ops is not None:
            # An open port keeps /dev/vfio/N busy: unbinding vfio-pci would block on it.
            pmd_ops.close_ports_for(address)
        try:
            if entry is None:
                return {"address": address, "restored": False, "reason": "no journal entry: nothing to restore"}
            result = restorer.restore(self.root, entry, self.journal, use_udev=self.use_udev)
            result["restored"] = True
            return result
        finally:
            self.release(address)

    def release(self, address: str) -> None:
        lock = self.held.pop(address, None)
        if lock is not None:
            lock.release()
        if not self.held and self._hook_registered:
            # Holding nothing: the dead man's switch (and with it the lease) has nothing to guard.
            self.agent.cancel_shutdown(self.dead_mans_switch)
            self._hook_registered = False

    def classify(self, entry: Dict[str, Any]) -> str:
        address = entry["address"]
        if address in self.held:
            return "held"
        if not self.locks.is_free(address):
            return "held"
        return "persistent" if entry.get("persistent") else "stale"


def state(agent) -> BindingState:
    existing = getattr(agent, "_binding_state", None)
    if existing is None:
        existing = BindingState(agent)
        agent._binding_state = existing
    return existing


def _default_controller() -> str:
    fields = (os.environ.get("SSH_CONNECTION") or "").split()
    return fields[0] if fields else f"local:{socket.gethostname()}"


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
    pause_after_unbind=(int, float))
def bind(agent, address, driver, force=False, any_class=False, allow_uio=False, persistent=False,
         pause_after_unbind=0) -> dict:
    """pause_after_unbind: a test hook (off by default, at most 60 s): sleep with the device
    driverless so crash tests can kill the controller, the agent or a module at that moment."""
    st = state(agent)
    address = _addr(address)
    if address in st.held:
        entry = st.journal.read(address) or {}
        raise RefusedError(f"{address} is already bound to {entry.get('target')} by this session; "
                           "restore it first")
    lock = st.locks.acquire(address, st.owner())
    try:
        entry = st.journal.read(address)
        if entry is not None:
            kind = "persistent" if entry.get("persistent") else "stale"
            raise RefusedError(
                f"{address} has a {kind} journal entry (bound to {entry.get('target')} by "
                f"{(entry.get('owner') or {}).get('controller')} at {entry.get('bound_at')}); "
                f"run `nictest restore --host <host> {address}` first")
        binder.preload_for_checks(st.root, address, driver)
        plan = _check(agent, st, address, driver, force, any_class, allow_uio)
        result = binder.bind(st.root, plan, st.journal, lock.owner, persistent=persistent, use_udev=st.use_udev,
                             pause_after_unbind=min(max(float(pause_after_unbind), 0.0), 60.0))
    except BaseException:
        lock.release()
        raise
    if persistent:
        lock.release()  # survives the agent; `nictest restore` takes it back
    else:
        st.held[address] = lock
        st.register_hook()
    return result


def _check(agent, st: BindingState, address: str, driver: str, force: bool, any_class: bool,
           allow_uio: bool) -> safety.Plan:
    return safety.check_bind(st.root, address, driver, session_ip=agent.session_ip,
                             session_local=agent.session_local, allowed=st.allowed, force=force,
                             any_class=any_class, allow_uio=allow_uio,
                             dry_run=modprobe_dry_run if st.use_udev else None)


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


@op("restore", address=str)
def restore(agent, address) -> dict:
    st = state(agent)
    address = _addr(address)
    if address in st.held:
        return st.restore_held(address, st.journal.read(address))
    st.held[address] = st.locks.acquire(address, st.owner())  # DeviceHeld if another agent has it
    return st.restore_held(address, st.journal.read(address))


@op("restore_all", stale_only=bool)
def restore_all(agent, stale_only=True) -> list:
    """Restore stale entries (stale_only) or every entry nobody else holds; raises if any failed."""
    st = state(agent)
    done, failed = [], []
    for entry in st.journal.entries():
        address = entry["address"]
        kind = st.classify(entry)
        if kind == "held" and address not in st.held:
            continue  # another agent's: never ours to take
        if stale_only and kind != "stale":
            continue
        try:
            if address not in st.held:
                st.held[address] = st.locks.acquire(address, st.owner())
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
