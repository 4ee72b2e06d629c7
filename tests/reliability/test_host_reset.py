"""The host reset mid-hold (QEMU monitor `system_reset`): after the reboot the next
session finds the journal entry (stale: /run and its locks are gone, the journal
under /var/lib survived) and replays it. The session's own cached connection must
work again afterwards (it reconnects once the dead transport is noticed).
"""
from __future__ import annotations

import time

import pytest

from nictest import hosts
from nictest.errors import NictestError
from nictest.lab import LabVM
from tests.reliability.conftest import replayed_by_next_session, require_lab, require_user_driver

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

BOOT_BOUND = 420.0  # a TCG guest on a loaded 2-core machine


def wait_for_agent(spec, deadline: float):
    last = None
    while time.monotonic() < deadline:
        try:
            return hosts.connect(spec)
        except NictestError as exc:
            last = exc
            time.sleep(5)
    raise AssertionError(f"{spec.name} did not come back after system_reset: {last}")


def reconnected(host, deadline: float) -> None:
    """The pool's connection answers again (its first calls may time out or reconnect)."""
    last = None
    while time.monotonic() < deadline:
        try:
            if host.call("ping", timeout=15) == {"pong": True}:
                return
        except NictestError as exc:
            last = exc
        time.sleep(2)
    raise AssertionError(f"the session's connection to {host.name} never worked again: {last}")


def test_host_reset_mid_hold(host, target, scenario, request):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    run = scenario("host reset (system_reset) mid-hold", target)
    holder = hosts.connect(host.spec)
    holder.call("bind", address=target, driver=driver, allow_uio=True)
    replayed = reset_and_replay(host, holder, run, target)
    run.wait_recovered(timeout=60, note=f"replayed {replayed} after reboot")


def reset_and_replay(host, holder, run, target: str) -> list:
    """system_reset the lab while `holder` holds something, wait for the guest, let the next
    session replay the journal (it must replay `target`) and the session's own connection
    work again; returns what was replayed."""
    holder.close_timeout = 1.0  # its agent dies with the reset: do not wait for an exit status
    run.fault()
    LabVM(host.spec.lab).monitor("system_reset")
    holder.close()
    deadline = time.monotonic() + BOOT_BOUND
    time.sleep(10)  # sshd from before the reset may still answer for a moment
    wait_for_agent(host.spec, deadline).close()
    replayed = replayed_by_next_session(host)
    assert target in replayed, f"the session after the reboot did not replay {target}: {replayed}"
    reconnected(host, time.monotonic() + 120)
    return replayed
