"""A group bind (`nictest bind --group`) killed in the middle: after the first member of the
IOMMU group moved to vfio-pci and before the next one did (the agent's crash-test pause
between members holds it there).

- the agent SIGKILLed: no hook runs; the group's one journal entry goes stale with one
  member on vfio-pci and one on its kernel driver, and the next session's replay gives
  both back (reverse order);
- the controller SIGKILLed: the agent finishes the op, sees its input closed and its dead
  man's switch restores the whole group.

Runs on a host where a NIC under test shares its IOMMU group (the shared-group lab);
elsewhere it skips saying so.
"""
from __future__ import annotations

import signal
import time

import pytest

from tests.reliability.conftest import group_target, journal_entries, replayed_by_next_session
from tests.reliability.test_controller_killed import driver_now, kill, start_controller

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def start_group_bind(host, target: str, peers: list) -> tuple:
    """A controller binding `target`'s group, paused after the first member; returns (proc, agent pid)."""
    proc, info = start_controller(host, target, "vfio-pci", "group")
    first, rest = sorted([target] + peers)[0], sorted([target] + peers)[1:]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and driver_now(host, first) != "vfio-pci":
        time.sleep(0.3)
    moved = {a: driver_now(host, a) for a in [first] + rest}
    if moved[first] != "vfio-pci" or any(moved[a] == "vfio-pci" for a in rest):
        kill(proc)
        pytest.fail(f"the group bind did not stop after its first member: drivers {moved}")
    entry = journal_entries(host, rest[0])
    assert entry, f"no journal entry covers {rest[0]} while its group is being bound"
    return proc, info["agent_pid"]


def test_agent_killed_mid_group_bind_then_next_session_replays(host, scenario, request):
    target, peers = group_target(host, request.config)
    runs = [scenario("agent SIGKILL mid group bind -> next session replays", a) for a in sorted([target] + peers)]
    proc, agent_pid = start_group_bind(host, target, peers)
    for run in runs:
        run.fault()
    killed = host.call("signal_agent", pid=agent_pid, signal=int(signal.SIGKILL))
    assert killed["exited"], f"the SIGKILLed agent {agent_pid} had not exited after the op's wait: {killed}"
    kill(proc)
    stale = [e for e in journal_entries(host) if e.endswith("(stale)")]
    assert stale, f"the killed agent's group entry is not stale: {journal_entries(host)}"
    replayed = replayed_by_next_session(host)
    assert sorted([target] + peers)[0] in replayed, f"the new session did not replay the group: {replayed}"
    for run in runs:
        run.wait_recovered(timeout=60, note="first member on vfio-pci, the next on its kernel driver at the kill")


def test_controller_killed_mid_group_bind(host, scenario, request):
    target, peers = group_target(host, request.config)
    runs = [scenario("controller SIGKILL mid group bind", a) for a in sorted([target] + peers)]
    proc, _ = start_group_bind(host, target, peers)
    for run in runs:
        run.fault()
    kill(proc)
    # The agent sleeps out the pause, binds the last member, then sees stdin closed and restores.
    for run in runs:
        run.wait_recovered(timeout=90, note="killed after the first member moved; the dead man's switch restores")
