"""Per-device locks across processes, and stale/persistent/held classification of journal entries."""
from __future__ import annotations

import multiprocessing
import os

import pytest

from nictest.agent import ops as agent_ops
from nictest.agent import binding_ops
from nictest.agent.server import Agent
from nictest.binding.journal import Journal
from nictest.binding.locks import Locks
from nictest.errors import DeviceHeld, RefusedError

NIC = "0000:00:03.0"


def hold(lock_dir, address, ready, release):
    lock = Locks(lock_dir).acquire(address, {"controller": "ctl-A", "pid": os.getpid(), "since": "2024-01-01T00:00:00+00:00"})
    ready.set()
    release.wait(30)
    lock.release()


@pytest.fixture
def holder(tmp_path):
    """Another process holding NIC's lock until the test lets it go."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=hold, args=(str(tmp_path / "locks"), NIC, ready, release))
    proc.start()
    assert ready.wait(30)
    yield proc, release
    release.set()
    proc.join(30)


def test_second_holder_gets_device_held_at_once(tmp_path, holder):
    proc, release = holder
    locks = Locks(str(tmp_path / "locks"))
    with pytest.raises(DeviceHeld) as held:
        locks.acquire(NIC, {"controller": "ctl-B", "pid": os.getpid(), "since": "later"})
    assert str(held.value).startswith(f"{NIC} is held by ctl-A (pid {proc.pid}) since 2024-01-01T00:00:00+00:00")
    assert not locks.is_free(NIC)
    release.set()
    proc.join(30)
    assert locks.is_free(NIC)
    locks.acquire(NIC, {"controller": "ctl-B", "pid": os.getpid(), "since": "later"}).release()


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    locks = Locks(str(tmp_path))
    first = locks.acquire(NIC, {"controller": "me", "pid": 1, "since": "t"})
    with pytest.raises(DeviceHeld, match="held by me"):
        locks.acquire("00:03.0", {"controller": "me again", "pid": 1, "since": "t"})
    first.release()
    assert locks.is_free(NIC)


def test_lock_dies_with_its_process(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=hold, args=(str(tmp_path), NIC, ready, release))
    proc.start()
    assert ready.wait(30)
    proc.kill()  # SIGKILL: no cleanup code runs
    proc.join(30)
    assert Locks(str(tmp_path)).is_free(NIC)


@pytest.fixture
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("NICTEST_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("NICTEST_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("NICTEST_SYSFS_ROOT", str(tmp_path / "root"))
    return Agent(ops=dict(agent_ops.OPS), session_ip=None)


def record(tmp_path, address, persistent=False):
    Journal(str(tmp_path / "journal")).write({"address": address, "driver": "e1000e", "target": "vfio-pci",
                                              "persistent": persistent, "owner": {"controller": "old", "pid": 9}})


def test_journal_op_classifies_stale_persistent_and_held(tmp_path, agent, holder):
    record(tmp_path, NIC)  # held by the other process
    record(tmp_path, "0000:00:04.0")  # nobody holds it: stale
    record(tmp_path, "0000:00:05.0", persistent=True)  # `nictest bind`: nobody holds it on purpose
    groups = binding_ops.journal(agent)
    assert [e["address"] for e in groups["held"]] == [NIC]
    assert groups["held"][0]["holder"]["controller"] == "ctl-A"
    assert [e["address"] for e in groups["stale"]] == ["0000:00:04.0"]
    assert [e["address"] for e in groups["persistent"]] == ["0000:00:05.0"]
    assert [e["address"] for e in binding_ops.stale(agent)] == ["0000:00:04.0"]
    proc, release = holder
    release.set()
    proc.join(30)
    assert sorted(e["address"] for e in binding_ops.stale(agent)) == [NIC, "0000:00:04.0"]


def test_bind_of_a_device_with_a_stale_entry_is_refused_with_the_fix(tmp_path, agent):
    record(tmp_path, NIC)
    with pytest.raises(RefusedError, match=r"stale journal entry.*nictest restore"):
        binding_ops.bind(agent, NIC, "vfio-pci")
    assert Locks(str(tmp_path / "locks")).is_free(NIC)  # the refusal let the lock go


def test_bind_of_a_device_held_elsewhere_is_refused_at_once(tmp_path, agent, holder):
    with pytest.raises(DeviceHeld, match="held by ctl-A"):
        binding_ops.bind(agent, NIC, "vfio-pci")
    with pytest.raises(DeviceHeld):
        binding_ops.restore(agent, NIC)


def test_restore_all_skips_entries_other_agents_hold(tmp_path, agent, holder):
    record(tmp_path, NIC)
    assert binding_ops.restore_all(agent, stale_only=False) == []
    assert Journal(str(tmp_path / "journal")).read(NIC) is not None
