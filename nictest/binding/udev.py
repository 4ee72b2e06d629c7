"""Waiting for the kernel and udev after a sysfs write, with a deadline and no fixed sleeps.

Start a `Watch` BEFORE the write: it opens a pyudev netlink monitor (udev
source: events arrive after udev's rules ran, so a netdev's final name is
known) filtered to pci and net. `wait(done, what)` then blocks on the monitor
and re-checks `done()` (a sysfs predicate) after every event and at least every
RECHECK seconds, so a missed or filtered event can never hang a bind. A wait
that runs out raises UdevTimeout naming what did not happen and the events seen.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, List, Tuple

from nictest.errors import UdevTimeout

log = logging.getLogger("nictest.binding")

RECHECK = 0.2  # upper bound on how long a missed event can delay noticing the new state
DEFAULT_TIMEOUT = 20.0


_CONTEXT = None


def _context(pyudev):
    """One pyudev Context per process: a new Context per Watch grew the agent's RSS on every bind
    (measured in the lab guest: +1.6 MB over 2000 Contexts; Monitors on one Context: flat)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = pyudev.Context()
    return _CONTEXT


class Watch:
    """pci/net udev events of one PCI device, recorded as (action, subsystem, name)."""

    def __init__(self, address: str, use_udev: bool = True) -> None:
        self.address = address
        self.use_udev = use_udev  # False: re-check sysfs only (tests on fake trees)
        self.events: List[Tuple[str, str, str]] = []
        self._monitor = None

    def __enter__(self) -> Watch:
        if not self.use_udev:
            return self
        try:
            import pyudev  # lazily: the agent must start without it (hello reports it missing)
        except ImportError:
            log.warning("pyudev is missing (apt-get install python3-pyudev): waiting by re-checking sysfs only")
            return self
        monitor = pyudev.Monitor.from_netlink(_context(pyudev))
        monitor.filter_by("pci")
        monitor.filter_by("net")
        monitor.start()
        self._monitor = monitor
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._drain()
        self._monitor = None  # the netlink socket closes with the object

    def saw(self, action: str, subsystem: str) -> bool:
        return any(a == action and s == subsystem for a, s, _ in self.events)

    def wait(self, done: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> float:
        """Block until `done()`; returns the seconds waited, UdevTimeout after `timeout`."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if done():
                return time.monotonic() - started
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = ", ".join(f"{s} {a} {n}" for a, s, n in self.events) or "none"
                raise UdevTimeout(
                    f"{self.address}: {what} did not happen within {timeout:.0f} s "
                    f"(udev events seen for it: {seen}); check dmesg for the driver's probe messages"
                )
            self._next_event(min(remaining, RECHECK))

    def _next_event(self, timeout: float) -> None:
        if self._monitor is None:
            time.sleep(timeout / 4)  # no pyudev: plain polling of the sysfs predicate
            return
        device = self._monitor.poll(timeout=timeout)
        if device is not None:
            self._record(device)

    def _drain(self) -> None:
        while self._monitor is not None:
            device = self._monitor.poll(timeout=0)
            if device is None:
                return
            self._record(device)

    def _record(self, device) -> None:
        if f"/{self.address}/" not in device.device_path + "/":
            return
        event = (device.action or "?", device.subsystem or "?", device.sys_name)
        log.debug("udev %s %s %s", event[1], event[0], event[2])
        self.events.append(event)

