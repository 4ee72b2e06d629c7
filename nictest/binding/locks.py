"""Per-device locks: a non-blocking flock on /run/nictest/locks/<address>.lock.

The agent holds a device's lock for as long as it holds the device (bound or
being bound/restored). The lock file carries the holder's owner record so a
second agent hears "held by <owner> (pid N) since <time>" at once. A journal
entry whose lock is free belongs to nobody: it is stale (or persistent).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
from typing import Any, Dict, Optional

from nictest.errors import DeviceHeld, JournalError
from nictest.pci import PciAddress

DEFAULT_DIR = "/run/nictest/locks"


def lock_dir(path: Optional[str] = None) -> str:
    return path or os.environ.get("NICTEST_LOCK_DIR") or DEFAULT_DIR


class DeviceLock:
    """One held lock; release() (or close of the process) frees it."""

    def __init__(self, address: str, fd: int, path: str, owner: Dict[str, Any]) -> None:
        self.address, self.fd, self.path, self.owner = address, fd, path, owner

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = -1

    @property
    def held(self) -> bool:
        return self.fd >= 0


class Locks:
    def __init__(self, directory: Optional[str] = None) -> None:
        self.dir = lock_dir(directory)

    def path(self, address: str) -> str:
        return os.path.join(self.dir, str(PciAddress.parse(address)) + ".lock")

    def acquire(self, address: str, owner: Dict[str, Any]) -> DeviceLock:
        """Take the device's lock now or raise DeviceHeld naming the holder (never blocks)."""
        address = str(PciAddress.parse(address))
        path = self.path(address)
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot open lock file {path}: {exc}; check that /run is writable") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DeviceHeld(held_message(address, read_owner(path))) from None
            raise JournalError(f"cannot lock {path}: {exc}") from exc
        record = json.dumps(owner, sort_keys=True).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        return DeviceLock(address, fd, path, owner)

    def is_free(self, address: str) -> bool:
        """True if nobody holds the lock right now (probes with a non-blocking flock)."""
        path = self.path(address)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return False
        finally:
            os.close(fd)  # drops the probe lock, if taken
        return True

    def holder(self, address: str) -> Optional[Dict[str, Any]]:
        return read_owner(self.path(address))


def read_owner(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            owner = json.loads(handle.read() or b"null")
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def held_message(address: str, owner: Optional[Dict[str, Any]]) -> str:
    if not owner:
        return f"{address} is held by another nictest agent; wait for it to finish or stop it"
    return (f"{address} is held by {owner.get('controller') or 'unknown controller'} "
            f"(pid {owner.get('pid', '?')}) since {owner.get('since', '?')}; wait for that session to end, "
            "or stop it (its agent restores the NIC on exit)")
