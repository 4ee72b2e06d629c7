"""The management link cut silently while a NIC is held: the agent's lease restores it.

QEMU's monitor takes the lab's management link down (`set_link mgmt off`): no FIN,
no RST, the TCP connection just stops carrying anything, so the agent never sees
EOF. Its lease runs out instead (the controller's heartbeat cannot get through),
it restores the NIC and exits. While the link is down the guest's serial console,
which the host reads from a file, shows when the NIC came back to e1000e; once
the link returns, a new connection finds the NIC on its kernel driver with an
empty journal, and the holder's agent gone. The second test is the other side of
the lease: a quiet controller whose heartbeat runs keeps its NIC.
"""
from __future__ import annotations

import dataclasses
import re
import time

import pytest

from nictest import hosts
from nictest.lab.vm import LabVM
from tests.reliability.conftest import require_lab, require_user_driver
from tests.reliability.labshell import LabShell

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

LEASE = 10.0  # short, so the row takes well under a minute; the default is 30 s
SLACK = 20.0  # restore time under TCG on a loaded 2-core machine, on top of the lease
RECONNECT_BOUND = 60.0


def console_since(vm: LabVM, offset: int) -> str:
    with open(vm.console_log, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def wait_console(vm: LabVM, offset: int, pattern: re.Pattern, timeout: float) -> float | None:
    """Seconds until `pattern` appears on the guest console after `offset`, None if it never does."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if pattern.search(console_since(vm, offset)):
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def connect_when_back(spec) -> tuple:
    """(host, seconds) once a new SSH connection and agent answer again."""
    started, last = time.monotonic(), None
    while time.monotonic() - started < RECONNECT_BOUND:
        try:
            return hosts.connect(spec), time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - HostUnreachable, a banner timeout ...: try again
            last = exc
            time.sleep(2)
    pytest.fail(f"{spec.name} unreachable {RECONNECT_BOUND:g}s after its management link returned: {last}")


def test_management_link_cut_silently_while_bound(host, target, scenario, request):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    vm = LabVM(host.spec.lab)
    run = scenario(f"management link cut silently (QEMU set_link off), lease {LEASE:g}s", target)
    holder = hosts.connect(dataclasses.replace(host.spec, lease=LEASE))
    fresh = None
    try:
        holder.call("bind", address=target, driver=driver, allow_uio=True)
        agent_pid = holder.call("session", allowed=list(host.spec.nics or []) or None,
                                controller="reliability: silent cut")["pid"]
        assert holder.call("heartbeat") == {"lease": LEASE, "armed": True}
        offset = vm.console_log.stat().st_size
        # The kernel driver's probe logs the netdev rename when the NIC is back on it.
        kernel_driver = run.before["driver"]
        back = re.compile(rf"{re.escape(kernel_driver)} {re.escape(target)} \S+: renamed from eth\d+")
        run.fault()
        vm.monitor("set_link mgmt off")
        try:
            restored_after = wait_console(vm, offset, back, LEASE + SLACK)
        finally:
            vm.monitor("set_link mgmt on")
        assert restored_after is not None, (
            f"{target} not back on its kernel driver {LEASE + SLACK:g}s after a silent cut with a {LEASE:g}s lease; "
            f"console since the cut: {console_since(vm, offset)[-2000:]!r}")
        assert restored_after >= LEASE - 1, (
            f"{target} came back {restored_after:.1f}s after the cut, before the {LEASE:g}s lease ran out: "
            "something other than the lease restored it")
        fresh, reconnect_s = connect_when_back(host.spec)
        run.wait_recovered(host=fresh, note=f"console: back on {kernel_driver} {restored_after:.1f}s after the cut; "
                                            f"reachable {reconnect_s:.1f}s after the link returned")
        with LabShell(host.spec) as shell:
            assert shell.run(f"ps -o pid= -p {int(agent_pid)}", check=False).strip() == "", \
                "the holder's agent is still running after its lease expired"
    finally:
        if holder._client is not None:
            holder._client.get_transport().close()  # its agent is gone; do not wait on the old link
        holder.close()
        if fresh is not None:
            fresh.close()
    assert host.call("ping") == {"pong": True}  # the session's own connection works again too


def test_a_quiet_controller_keeps_its_nic_over_ssh(host, target, request):
    """The other side of the lease: a controller that says nothing for several leases but is
    alive (its heartbeat thread runs) keeps what it holds."""
    driver = require_user_driver(host, request.config)
    lease = 2.0
    kernel_driver = next(d for d in host.call("status")["devices"] if d["address"] == target)["driver"]
    holder = hosts.connect(dataclasses.replace(host.spec, lease=lease))
    try:
        holder.call("bind", address=target, driver=driver, allow_uio=True)
        pid = holder.call("session", allowed=list(host.spec.nics or []) or None, controller="reliability: quiet")["pid"]
        time.sleep(lease * 4)
        assert holder.call("heartbeat") == {"lease": lease, "armed": True}
        assert holder.call("session", allowed=list(host.spec.nics or []) or None,
                           controller="reliability: quiet")["pid"] == pid, "the agent was replaced"
        held = [e["address"] for e in holder.call("journal")["held"]]
        assert held == [target], f"{target} is no longer held after a quiet spell: {held}"
        holder.call("restore", address=target)
    finally:
        holder.close()
    assert next(d for d in host.call("status")["devices"] if d["address"] == target)["driver"] == kernel_driver
