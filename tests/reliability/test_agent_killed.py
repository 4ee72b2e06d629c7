"""The agent killed with SIGKILL on the host: no hook runs, the journal entry goes stale.

Recovery is the journal replay: `nictest restore --all`, or the next pytest session
(HostPool.get replays stale entries on its first connection to a host).
"""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from nictest import hosts
from tests.reliability.conftest import journal_entries, replayed_by_next_session, require_user_driver

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def cli(*argv):
    return subprocess.run([sys.executable, "-m", "nictest.cli", *argv], capture_output=True, text=True, timeout=180)


def bind_and_kill_agent(host, address: str, driver: str) -> None:
    """Bind on a second connection, then SIGKILL that connection's agent from the session's agent."""
    holder = hosts.connect(host.spec)
    try:
        holder.call("bind", address=address, driver=driver, allow_uio=True)
        agent_pid = holder.call("session", allowed=list(host.spec.nics or []) or None,
                                controller="reliability: agent SIGKILL")["pid"]
        killed = host.call("signal_agent", pid=agent_pid, signal=int(signal.SIGKILL))
        assert killed["exited"], f"the SIGKILLed agent {agent_pid} had not exited after the op's wait: {killed}"
    finally:
        holder.close()


def test_agent_killed_then_nictest_restore_all(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("agent SIGKILL -> nictest restore --all", target)
    bind_and_kill_agent(host, target, driver)
    run.fault()
    assert any(e.startswith(f"{target} (stale)") for e in journal_entries(host, target))
    status = cli("status", "--host", host.name)
    assert status.returncode == 0, status.stderr
    assert f"STALE: {target}" in status.stdout
    restored = cli("restore", "--host", host.name, "--all")
    assert restored.returncode == 0, restored.stderr
    assert target in restored.stdout
    run.wait_recovered()


def test_agent_killed_then_next_session_replays(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("agent SIGKILL -> next session replays", target)
    bind_and_kill_agent(host, target, driver)
    run.fault()
    replayed = replayed_by_next_session(host)
    assert target in replayed, f"the new session did not replay {target}: {replayed}"
    run.wait_recovered()
