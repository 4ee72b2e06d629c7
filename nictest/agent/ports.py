"""The Ports service: PMD ports and driverless devices open in this agent, by handle id.

A port (a NIC a nictest driver drives: rings, DMA) and a device (any NIC opened through
VFIO/UIO without a driver) share one id space; ids are never reused, so a stale id can
only ever name nothing. One address is open as one handle at a time.

Other op modules get an open port with `ports(agent).get(port_id)` (StateError when it
is not open) and can ask to hear when one closes with `on_release(fn)` (fn(port_id)
runs before the handle is closed: drop any view into its DMA memory then). Closing a
handle first waits for the background jobs it owns (jobs.py): a C receive loop must
not run on rings that are gone.

Imports nothing from nictest.pmd at module level (cffi may be missing: `hello` must
still answer), and the binding layer closes ports through this service before it
hands a device back to its kernel driver.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List

from nictest.agent.jobs import Jobs
from nictest.agent.service import Service
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.ports")


class Ports(Service):
    close_order = 30

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._handles: Dict[int, object] = {}   # Port and Device handles, one id space
        self._next_id = 1
        self._listeners: List[Callable[[int], None]] = []

    # --- lookup -------------------------------------------------------------------
    def get(self, port_id: int):
        """The open Port `port_id`; StateError naming the open ones otherwise."""
        from nictest.pmd import Port

        return self._open(port_id, Port, "port", "pmd_open")

    def device(self, device_id: int):
        """The open driverless Device `device_id`; StateError otherwise."""
        from nictest.pmd import Device

        return self._open(device_id, Device, "device", "pmd_device_open")

    def _open(self, handle_id: int, cls, kind: str, opener: str):
        handle = self._handles.get(handle_id)
        if handle is None or not isinstance(handle, cls):
            ids = sorted(i for i, h in self._handles.items() if isinstance(h, cls))
            raise StateError(f"no open PMD {kind} {handle_id}; open {kind}s: {ids or 'none'} ({opener} first)")
        return handle

    def addresses(self) -> Dict[int, str]:
        """handle id -> PCI address of everything open."""
        return {handle_id: handle.address for handle_id, handle in self._handles.items()}

    def holds(self) -> bool:
        return bool(self._handles)

    # --- open and close ---------------------------------------------------------
    def refuse_if_open(self, address: str) -> None:
        from nictest.pmd import Device

        for handle_id, handle in self._handles.items():
            if handle.address == address:
                kind, closer = ("device", "pmd_device_close") if isinstance(handle, Device) else ("port", "pmd_close")
                raise StateError(f"{address} is already open as PMD {kind} {handle_id}: {closer} it first")

    def add(self, handle) -> int:
        handle_id = self._next_id
        self._next_id += 1
        self._handles[handle_id] = handle
        return handle_id

    def on_release(self, fn: Callable[[int], None]) -> None:
        """Call fn(handle_id) whenever a handle is about to be closed."""
        if fn not in self._listeners:
            self._listeners.append(fn)

    def release(self, handle_id: int, forget_jobs: bool = True):
        """Close handle `handle_id` (after its jobs, after the listeners); returns it, or None if not open.
        forget_jobs=False keeps its finished jobs for their collect (an interrupted receive reports why)."""
        handle = self._handles.get(handle_id)
        if handle is None:
            return None
        if not self.agent.service(Jobs).settle(("port", handle_id), forget=forget_jobs):
            raise StateError(f"PMD handle {handle_id} ({handle.address}) still has a job running in it: "
                             "not closed (collect it with its _wait op, or retry once its timeout passed)")
        for listener in self._listeners:
            try:
                listener(handle_id)
            except Exception:  # noqa: BLE001 - the handle is closed anyway
                log.exception("release listener %r failed for handle %d", listener, handle_id)
        del self._handles[handle_id]
        handle.close()
        return handle

    def close_address(self, address: str) -> int:
        """Close every handle on `address` (the binding layer, before it restores); returns how many."""
        ids = [handle_id for handle_id, handle in self._handles.items() if handle.address == address]
        for handle_id in ids:
            self.release(handle_id)
        return len(ids)

    def interrupt_address(self, address: str) -> List[int]:
        """From another thread, when the kernel wants the device back (a removal): stop the C loop
        running on each handle of `address`, then close it; a receive job on it ends with the
        interruption and stays for its collect. Returns the handle ids closed."""
        ids = [handle_id for handle_id, handle in list(self._handles.items()) if handle.address == address]
        for handle_id in ids:
            handle = self._handles.get(handle_id)
            if handle is not None and hasattr(handle, "interrupt"):
                handle.interrupt()  # does not wait for the port's lock
            self.release(handle_id, forget_jobs=False)
        return ids

    def close(self) -> None:
        for handle_id in sorted(self._handles):
            address = self._handles[handle_id].address
            try:
                log.warning("closing PMD handle %d (%s)", handle_id, address)
                self.release(handle_id)
            except Exception:  # noqa: BLE001 - close the others anyway
                log.exception("closing PMD handle %d (%s) failed", handle_id, address)


def ports(agent) -> Ports:
    """This agent's Ports service."""
    return agent.service(Ports)
