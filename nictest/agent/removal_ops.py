"""Device removal while the agent holds a NIC: answer the kernel, close the journal entry.

When a device bound to vfio-pci is removed (hot-unplug: QEMU's `device_del`, a
slot's attention button, `echo 1 > remove`), vfio-pci's remove waits until every
user closed the device, holding the device lock meanwhile: even reading the
device's sysfs files (`status`) blocks. It asks the user through the VFIO device
request eventfd; with none registered it logs "No device request channel
registered, blocked until released by user" and waits forever (seen in the lab:
the agent then hung in driver_override_show and the guest's hung-task detector
fired). So every VFIO port gets an eventfd here (`watch`, called by pmd_open),
and one thread answers it: it interrupts the loop running on the port, closes
the port (DMA stopped, fds closed: the kernel's removal completes), waits for
the device to be gone and closes its journal entry with "device gone". Each
request is an event the controller reads with `removal_events`, so a run can
report which device went away.

The thread blocks on the request eventfds and on a wake-up eventfd of its own
(written by `close()`), and waits for the device to go through a udev Watch:
nothing here ticks. Owned state: the eventfds, the thread and the events;
`close()` (a shutdown hook) stops the thread and closes the fds.
"""
from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from typing import Dict, List, Optional

from nictest.agent.ops import op
from nictest.binding.udev import Watch
from nictest.errors import NictestError, UdevTimeout

log = logging.getLogger("nictest.agent.removal")

GONE_TIMEOUT = 30.0  # seconds the kernel may take to finish a removal once the port is closed
DEVICES_DIR = "/sys/bus/pci/devices"


class RemovalWatch:
    def __init__(self, agent, devices_dir: str = DEVICES_DIR) -> None:
        self.agent = agent
        self.devices_dir = devices_dir
        self.events: List[dict] = []
        self._fds: Dict[int, tuple] = {}      # eventfd -> (port id, address)
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()          # one per thread: a late old thread never revives
        self._thread: Optional[threading.Thread] = None
        self._wake: Optional[int] = None        # the running thread's wake-up eventfd

    def watch(self, port_id: int, port) -> bool:
        """Register a device request eventfd on a VFIO port or device and start answering it;
        False (logged) where VFIO refuses one: the port works, but its removal would wait."""
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            port.request_eventfd(efd)
        except NictestError as exc:
            os.close(efd)
            log.warning("%s: no device request channel (%s): a removal will wait until it is closed",
                        port.address, exc)
            return False
        except BaseException:
            os.close(efd)
            raise
        with self._lock:
            self._fds[efd] = (port_id, port.address)
            self._selector.register(efd, selectors.EVENT_READ)
        if self._thread is None:
            self._stop = threading.Event()
            self._wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self._selector.register(self._wake, selectors.EVENT_READ)
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="removal-watch",
                                            daemon=True)
            self._thread.start()
        self.agent.cancel_shutdown(self.close)
        self.agent.on_shutdown(self.close)
        return True

    def forget(self, port_id: int) -> None:
        """The port was closed normally: its eventfd is no longer needed (nor, with none left, the thread)."""
        with self._lock:
            for efd, (pid, _address) in list(self._fds.items()):
                if pid == port_id:
                    self._drop(efd)
            idle = not self._fds
        if idle:
            self.close()

    def _drop(self, efd: int) -> None:
        self._fds.pop(efd, None)
        try:
            self._selector.unregister(efd)
        except (KeyError, ValueError):
            pass
        os.close(efd)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            # Blocks until a request or the wake-up; epoll lets watch/forget (un)register meanwhile.
            for key, _mask in self._selector.select():
                with self._lock:
                    found = self._fds.get(key.fd)
                if found is None:  # the wake-up, or a port forgotten since select returned
                    continue
                try:
                    count = os.eventfd_read(key.fd)
                except BlockingIOError:
                    continue
                try:
                    self._answer(found[1], count)
                except Exception:  # noqa: BLE001 - the thread must keep answering other devices
                    log.exception("answering the removal request for %s failed", found[1])

    def _answer(self, address: str, count: int) -> None:
        """The kernel wants `address` back: stop, close, wait for it to go, close its journal entry."""
        from nictest.agent.ports import ports

        started = time.monotonic()
        log.warning("%s: the kernel asks for the device back (removal, request #%d): closing its ports",
                    address, count)
        # Every key set now: the controller may read the event while it is completed ("gone" None: pending).
        event = {"address": address, "requests": count, "at": time.time(), "ports_closed": [],
                 "closed_s": None, "gone": None, "gone_s": None, "journal": "pending"}
        with self._lock:
            for efd, (_pid, addr) in list(self._fds.items()):
                if addr == address:
                    self._drop(efd)
        path = os.path.join(self.devices_dir, address)
        # The monitor opens before the ports close, so the removal's uevent cannot pass unseen.
        with Watch(address, use_udev=self.devices_dir == DEVICES_DIR) as watch:
            event["ports_closed"] = ports(self.agent).interrupt_address(address)
            event["closed_s"] = round(time.monotonic() - started, 3)
            self.events.append(event)
            try:
                watch.wait(lambda: not os.path.exists(path), "the device's removal", timeout=GONE_TIMEOUT)
            except UdevTimeout:
                pass
        gone = not os.path.exists(path)
        event["gone_s"] = round(time.monotonic() - started, 3)
        if gone:
            event["journal"] = self._close_entry(address)
        else:
            event["journal"] = "kept: device still present"
            log.error("%s: still present %.0f s after its ports were closed", address, GONE_TIMEOUT)
        event["gone"] = gone   # last: a reader seeing it sees the journal outcome too
        with self._lock:
            idle = not self._fds
        if idle:
            self.close()  # from this thread: it ends after this answer

    def _close_entry(self, address: str) -> str:
        from nictest.agent.binding_ops import state

        st = state(self.agent)
        entry = st.journal.entry_for(address)
        if entry is None:
            return "no entry"
        if entry.get("members"):
            return "kept: group entry (restore the other members with `nictest restore`)"
        st.journal.remove(entry["address"])
        st.release(address)
        log.warning("%s: device gone; journal entry closed (it was on %s, bound to %s)",
                    address, entry.get("driver") or "no driver", entry.get("target"))
        return "closed: device gone"

    def watched(self) -> List[str]:
        with self._lock:
            return sorted({address for _pid, address in self._fds.values()})

    def close(self) -> None:
        """Stop the thread and close every eventfd (a shutdown hook while anything is watched)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        wake, self._wake = self._wake, None
        if wake is not None:
            os.eventfd_write(wake, 1)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            for efd in list(self._fds):
                self._drop(efd)
        if wake is not None:  # the thread is gone, or is this one and ends without selecting again
            self._selector.unregister(wake)
            os.close(wake)
        self.agent.cancel_shutdown(self.close)


def watch_of(agent) -> RemovalWatch:
    existing = getattr(agent, "_removal_watch", None)
    if existing is None:
        from nictest.agent.ports import ports
        existing = RemovalWatch(agent)
        agent._removal_watch = existing
        ports(agent).on_release(existing.forget)  # a port closed normally needs no eventfd
    return existing


@op("removal_events")
def removal_events(agent) -> dict:
    """The devices the kernel asked back while this agent had them open, oldest first; an event's
    `gone` is None while the agent still waits for the kernel to finish the removal."""
    watch = getattr(agent, "_removal_watch", None)
    return {"events": list(watch.events) if watch else [],
            "watched": watch.watched() if watch else []}
