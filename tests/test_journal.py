"""The bind journal: atomic replacement, readable entries, crash leftovers ignored."""
from __future__ import annotations

import json
import os

import pytest

from nictest.binding.journal import Journal
from nictest.errors import JournalError

NIC = "0000:00:03.0"


def entry(**changes):
    base = {"address": NIC, "driver": "e1000e", "driver_override": None, "target": "vfio-pci",
            "net": {"netdev": "enp0s3", "mac": "52:54:00:00:00:03", "mtu": 1500, "link_up": False, "addresses": []},
            "persistent": False, "owner": {"controller": "ctl", "pid": 1, "since": "now"}, "state": "binding"}
    base.update(changes)
    return base


def test_write_then_read_round_trips(tmp_path):
    journal = Journal(str(tmp_path / "j"))
    journal.write(entry(address="00:03.0"))
    read = journal.read(NIC)
    assert read["address"] == NIC and read["net"]["netdev"] == "enp0s3" and read["format"] == 1
    assert json.loads((tmp_path / "j" / f"{NIC}.json").read_text())["driver"] == "e1000e"
    assert journal.addresses() == [NIC]


def test_update_and_remove(tmp_path):
    journal = Journal(str(tmp_path))
    journal.write(entry())
    assert journal.update(NIC, state="bound")["state"] == "bound"
    assert journal.read(NIC)["state"] == "bound"
    journal.remove(NIC)
    assert journal.read(NIC) is None and journal.entries() == []
    journal.remove(NIC)  # idempotent


def test_crash_between_temp_write_and_rename_keeps_the_old_entry(tmp_path, monkeypatch):
    journal = Journal(str(tmp_path))
    journal.write(entry(state="binding"))

    def crash(src, dst):
        raise OSError(5, "simulated crash before rename")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(JournalError, match="nothing was bound"):
        journal.write(entry(state="bound"))
    monkeypatch.undo()
    assert journal.read(NIC)["state"] == "binding"
    assert [p.name for p in tmp_path.iterdir()] == [f"{NIC}.json"]  # temp file cleaned up


def test_temp_file_left_by_a_killed_process_is_ignored(tmp_path):
    journal = Journal(str(tmp_path))
    journal.write(entry(state="bound"))
    (tmp_path / f".{NIC}.abc123.tmp").write_text('{"address": "0000:00:03.0", "state": "tor')  # torn temp
    assert journal.addresses() == [NIC]
    assert [e["state"] for e in journal.entries()] == ["bound"]


def test_entry_is_fsynced_before_rename_and_directory_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_rename = os.fsync, os.rename
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}"))) or real_fsync(fd))
    monkeypatch.setattr(os, "rename", lambda a, b: calls.append(("rename", None)) or real_rename(a, b))
    journal = Journal(str(tmp_path))
    journal.write(entry())
    assert calls == [("fsync", False), ("rename", None), ("fsync", True)]
    # an update whose loss is harmless (bind's "bound") still syncs its data, not the directory
    calls.clear()
    assert journal.update(NIC, sync_dir=False, device_node="/dev/vfio/9")["device_node"] == "/dev/vfio/9"
    assert calls == [("fsync", False), ("rename", None)]
    assert journal.read(NIC)["device_node"] == "/dev/vfio/9"


def test_unreadable_entry_raises_journal_error_naming_the_file(tmp_path):
    (tmp_path / f"{NIC}.json").write_text("{not json")
    journal = Journal(str(tmp_path))
    with pytest.raises(JournalError, match=f"{NIC}.json"):
        journal.read(NIC)
    assert journal.entries()[0]["error"]  # listed, not hidden


def test_directory_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "env"))
    assert Journal().dir == str(tmp_path / "env")
