"""Crash recovery on a live lab: the dead man's switch and the journal replay.

- `nictest hold` killed with SIGKILL: the agent sees its input close and restores.
- the agent killed with SIGKILL on the host: the entry is stale, `status` shows
  it, and `nictest restore --all` brings the NIC back.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nictest import hosts

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

RECOVERY_BOUND = 15  # seconds the issue allows for the NIC to come back


def cli(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "nictest.cli", *argv], capture_output=True,
                          text=True, timeout=120, **kw)


def kernel_state(host, address):
    dev = next(d for d in host.call("status")["devices"] if d["address"] == address)
    return dev["driver"], dev["netdev"], dev["mac"], dev["driver_override"]


def journal_entries(host):
    journal = host.call("journal")
    return [e["address"] for kind in ("held", "stale", "persistent") for e in journal[kind]]


def start_hold(host, address, driver):
    proc = subprocess.Popen([sys.executable, "-m", "nictest.cli", "hold", "--host", host.name, address, driver,
                             "--allow-uio"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "bound to" not in line:
        proc.kill()
        pytest.fail(f"nictest hold did not bind: {line} {proc.stderr.read()}")
    return proc


def driver_for(host):
    return "vfio-pci" if host.info.get("iommu") else "uio_pci_generic"


def test_hold_killed_with_sigkill_restores_within_bound(host, nic):
    before = kernel_state(host, nic["address"])
    proc = start_hold(host, nic["address"], driver_for(host))
    assert kernel_state(host, nic["address"])[0] == driver_for(host)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < RECOVERY_BOUND:
        if kernel_state(host, nic["address"]) == before and nic["address"] not in journal_entries(host):
            break
        time.sleep(0.5)
    assert kernel_state(host, nic["address"]) == before
    assert nic["address"] not in journal_entries(host)


def test_agent_killed_leaves_a_stale_entry_that_restore_all_replays(host, nic):
    before = kernel_state(host, nic["address"])
    holder = hosts.connect(host.spec)
    holder.call("bind", address=nic["address"], driver=driver_for(host), allow_uio=True)
    agent_pid = holder.call("session", allowed=list(host.spec.nics or []) or None, controller="recovery test")["pid"]
    # SIGKILL the holding agent on the host: no shutdown hook can run.
    host.call("signal_agent", pid=agent_pid, signal=int(signal.SIGKILL))
    holder.close()
    status = cli("status", "--host", host.name)
    assert status.returncode == 0, status.stderr
    assert f"STALE: {nic['address']}" in status.stdout
    restored = cli("restore", "--host", host.name, "--all")
    assert restored.returncode == 0, restored.stderr
    assert nic["address"] in restored.stdout
    assert kernel_state(host, nic["address"]) == before
    assert nic["address"] not in journal_entries(host)
