"""The SSH link cut mid-test: the agent's stdin closes, its dead man's switch restores.

Two cuts: the controller closes its paramiko transport (the TCP connection goes
away), and the sshd process serving the session is SIGKILLed inside the guest.
"""
from __future__ import annotations

import pytest

from nictest import hosts
from tests.reliability.conftest import require_lab, require_user_driver
from tests.reliability.labshell import LabShell

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def test_transport_closed_by_controller(host, target, scenario, request):
    driver = require_user_driver(host, request.config)
    run = scenario("SSH transport closed by the controller", target)
    holder = hosts.connect(host.spec)
    try:
        holder.call("bind", address=target, driver=driver, allow_uio=True)
        run.fault()
        holder._client.get_transport().close()  # the cut: no EOF sent on the channel first
    finally:
        holder.close()  # with the transport dead this only tidies up
    run.wait_recovered()


def test_sshd_child_killed_in_the_guest(host, target, scenario, request):
    require_lab(host)
    driver = require_user_driver(host, request.config)
    run = scenario("sshd session process SIGKILLed in the guest", target)
    holder = hosts.connect(host.spec)
    try:
        holder.call("bind", address=target, driver=driver, allow_uio=True)
        agent_pid = holder.call("session", allowed=list(host.spec.nics or []) or None,
                                controller="reliability: sshd kill")["pid"]
        with LabShell(host.spec) as shell:
            parent = int(shell.run(f"ps -o ppid= -p {int(agent_pid)}").strip())
            comm = shell.run(f"ps -o comm= -p {parent}").strip()
            assert comm == "sshd", f"the agent's parent is {comm!r} (pid {parent}), expected sshd"
            run.fault()
            shell.run(f"kill -9 {parent}")
    finally:
        holder.close()
    run.wait_recovered()
