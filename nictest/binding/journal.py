"""The crash-safe bind journal: one JSON entry per device, written before any sysfs write.

A group bind (`nictest bind --group`) writes ONE entry for the whole IOMMU group, under
its first endpoint's address, with a `members` list holding each endpoint's own record
(original driver, override, netdev state); `entry_for` finds it from any member.
Each entry lives at <dir>/<address>.json and is replaced atomically: write a
temp file in the same directory, fsync it, rename it over the entry, fsync the
directory. A crash at any point leaves either the old entry or the new one,
never a torn file. An entry is removed only after its restore was verified.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional

from nictest.errors import JournalError, NictestError
from nictest.pci import PciAddress

log = logging.getLogger("nictest.binding")

DEFAULT_DIR = "/var/lib/nictest/journal"
SUFFIX = ".json"
FORMAT = 1


def journal_dir(path: Optional[str] = None) -> str:
    return path or os.environ.get("NICTEST_JOURNAL_DIR") or DEFAULT_DIR


class Journal:
    def __init__(self, directory: Optional[str] = None) -> None:
        self.dir = journal_dir(directory)

    def path(self, address: str) -> str:
        return os.path.join(self.dir, str(PciAddress.parse(address)) + SUFFIX)

    def write(self, entry: Dict[str, Any], sync_dir: bool = True) -> None:
        """Atomically create or replace the entry for entry["address"]. sync_dir=False skips
        the directory's fsync: the rename may then be lost in a crash, leaving the entry
        that was there before (never a torn one): only for updates whose loss is harmless."""
        address = str(PciAddress.parse(entry["address"]))
        data = json.dumps(dict(entry, address=address, format=FORMAT), indent=1, sort_keys=True).encode() + b"\n"
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{address}.", suffix=".tmp", dir=self.dir)
            try:
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, self.path(address))
            except BaseException:
                _unlink_quietly(tmp)
                raise
            if sync_dir:
                self._fsync_dir()
        except OSError as exc:
            raise JournalError(
                f"cannot write the journal entry for {address} in {self.dir}: {exc}; "
                "nothing was bound: check the disk and the directory's permissions"
            ) from exc

    def update(self, address: str, sync_dir: bool = True, **changes: Any) -> Dict[str, Any]:
        entry = self.read(address)
        if entry is None:
            raise JournalError(f"no journal entry for {address} in {self.dir} to update")
        entry.update(changes)
        self.write(entry, sync_dir=sync_dir)
        return entry

    def read(self, address: str) -> Optional[Dict[str, Any]]:
        """The entry, or None if there is none; JournalError if it is unreadable."""
        path = self.path(address)
        try:
            with open(path, "rb") as handle:
                entry = json.loads(handle.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise JournalError(
                f"journal entry {path} is unreadable ({exc}); inspect it, restore the device by hand "
                "and delete the file"
            ) from exc
        if not isinstance(entry, dict) or "address" not in entry:
            raise JournalError(f"journal entry {path} is not a bind record; inspect and delete it")
        return entry

    def entry_for(self, address: str) -> Optional[Dict[str, Any]]:
        """The entry that covers `address`: its own, or the group entry it is a member of."""
        address = str(PciAddress.parse(address))
        own = self.read(address)
        if own is not None:
            return own
        for entry in self.entries():
            if address in member_addresses(entry):
                return entry
        return None

    def remove(self, address: str) -> None:
        _unlink_quietly(self.path(address))
        self._fsync_dir()

    def addresses(self) -> List[str]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith("."))

    def entries(self) -> List[Dict[str, Any]]:
        found = []
        for address in self.addresses():
            try:
                entry = self.read(address)
            except JournalError as exc:
                log.error("%s", exc)
                entry = {"address": address, "error": str(exc)}
            if entry is not None:
                found.append(entry)
        return found

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def keep_failed(journal: Optional[Journal], address: str, problem: str, state: str = "restore-failed",
                **changes: Any) -> None:
    """Mark the entry of `address` as kept, with why; best effort: a journal that cannot be
    written is logged, since the caller is already raising the real error."""
    if journal is None:
        return
    try:
        journal.update(address, state=state, problem=problem, **changes)
    except NictestError as exc:
        log.error("cannot record on the journal entry of %s that it is kept (%s): %s", address, problem, exc)


def is_group(entry: Dict[str, Any]) -> bool:
    return "members" in entry


def member_addresses(entry: Dict[str, Any]) -> List[str]:
    """Every device an entry covers (locks and lookups): the group's members, or the one device."""
    if is_group(entry):
        return sorted(set([m["address"] for m in entry["members"]] + list(entry.get("bridges") or [])))
    return [entry["address"]]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
