"""The session-link guard under policy routing, on a QEMU lab (`--host lab3`).

Inside the guest the session's routes move to table 100, picked by
`ip rule from <session address>`, while the main table's default route goes out
of the NIC under test (the first allow-listed one, 00:03.0 on lab1-lab3). The kernel still sends the session through the
management NIC, so the guard must name that NIC, and a bind of it must be refused.
The refusal is proven with the agent's dry-run `bind_check`: a real bind attempt
would cut the session if the guard ever regressed.

The set-up is one shell script; a timer in the guest undoes it on its own if the
test loses the lab half-way, and the test undoes it itself and checks the routing
is as it found it.
"""
from __future__ import annotations

import json
import os
import shlex
import socket

import pytest

from nictest import hosts
from nictest.pci import routes
from tests.reliability.conftest import require_lab
from tests.reliability.labshell import LabShell

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TABLE, PRIORITY = 100, 100
TEST_NET = ("192.168.77.2/24", "192.168.77.1")  # on the NIC under test; nothing answers there
SELF_UNDO_AFTER = 300  # seconds: the guest's own safety net


def undo_script(mgmt_if: str, nic_if: str, mgmt_routes: list) -> str:
    readd = "".join(f"ip route replace {line} dev {mgmt_if}; " for line in mgmt_routes)
    return (f"{readd}"
            f"ip route del default via {TEST_NET[1]} dev {nic_if} 2>/dev/null; "
            f"ip addr flush dev {nic_if}; ip link set {nic_if} down; "
            f"while ip rule del priority {PRIORITY} 2>/dev/null; do :; done; "
            f"ip route flush table {TABLE} 2>/dev/null; true")


def setup_script(mgmt_if: str, nic_if: str, session_local: str, mgmt_routes: list) -> str:
    # Order matters: the rule and table 100 carry the session before main loses its route.
    lines = ["set -e",
             *(f"ip route add {line} dev {mgmt_if} table {TABLE}" for line in mgmt_routes),
             f"ip rule add from {session_local} lookup {TABLE} priority {PRIORITY}",
             f"ip link set {nic_if} up",
             f"ip addr add {TEST_NET[0]} dev {nic_if}",
             f"ip route add default via {TEST_NET[1]} dev {nic_if} onlink metric 10",
             *(f"ip route del {line} dev {mgmt_if} table main" for line in mgmt_routes)]
    return "; ".join(lines)


def route_get(shell: LabShell, *argv: str) -> dict:
    return json.loads(shell.run("ip -j route get " + " ".join(shlex.quote(a) for a in argv)))[0]


def test_the_session_nic_is_named_and_refused_under_policy_routing(host, request, tmp_path):
    require_lab(host)
    chosen = request.config.getoption("nic") or list(host.spec.nics or ())
    if not chosen:
        pytest.fail(f"no NIC under test on {host.name}: set `nics` in hosts.toml or pass --nic", pytrace=False)
    target = chosen[0]
    before = {d["address"]: d for d in host.call("status")["devices"]}
    session_nics = [a for a, d in before.items() if d["carries_session"]]
    assert len(session_nics) == 1, f"expected one NIC carrying the session before the set-up: {session_nics}"
    mgmt, under_test = session_nics[0], target
    mgmt_if, nic_if = before[mgmt]["netdev"], before[under_test]["netdev"]
    assert mgmt_if and nic_if and before[under_test]["active"] is False, before[under_test]
    with LabShell(host.spec) as shell:
        client, _port, session_local, _ = shell.run("echo $SSH_CONNECTION").split()
        main_before = shell.run("ip route show table main")
        rules_before = shell.run("ip rule show")
        mgmt_routes = [line.strip() for line in shell.run(f"ip route show table main dev {mgmt_if}").splitlines()
                       if line.strip()]
        assert mgmt_routes, f"{mgmt_if} has no routes in the main table: {main_before}"
        assert not shell.run(f"ip -br addr show dev {nic_if}").split()[2:], \
            f"{nic_if} already has addresses; the lab is not as the test expects"
        undo = undo_script(mgmt_if, nic_if, mgmt_routes)
        timer = shell.run(f"setsid sh -c {shlex.quote(f'sleep {SELF_UNDO_AFTER}; {undo}')} "
                          "</dev/null >/dev/null 2>&1 & echo $!").strip()
        try:
            shell.run(setup_script(mgmt_if, nic_if, session_local, mgmt_routes))
            # The scenario really is one where the main table alone points elsewhere:
            assert route_get(shell, client)["dev"] == nic_if
            assert route_get(shell, client, "from", session_local)["dev"] == mgmt_if
            (tmp_path / "proc/net").mkdir(parents=True)
            (tmp_path / "proc/net/route").write_text(shell.run("cat /proc/net/route"))
            assert routes.lookup(tmp_path, client).iface == nic_if  # what the old guard would have said

            with hosts.connect(host.spec) as fresh:  # a new agent, started under the policy routing
                devices = {d["address"]: d for d in fresh.call("status")["devices"]}
                mgmt_dev, nic = devices[mgmt], devices[under_test]
                assert mgmt_dev["carries_session"], f"the guard lost the session's NIC: {mgmt_dev['active_reason']}"
                assert f"table {TABLE}" in mgmt_dev["active_reason"] and session_local in mgmt_dev["active_reason"]
                assert not nic["carries_session"], f"the NIC under test named as the session's: {nic['active_reason']}"
                assert nic["active"] and "0.0.0.0/0" in nic["active_reason"]  # it does carry the default route

                # Lift the allow-list on this private agent so the session guard itself is what refuses.
                fresh.call("session", allowed=None, controller=f"{socket.gethostname()} pid {os.getpid()}")
                for driver in ("vfio-pci", "uio_pci_generic"):
                    check = fresh.call("bind_check", address=mgmt, driver=driver, force=True, allow_uio=True)
                    assert check["refused"] and "carries the SSH session" in check["refused"], check
                routed = fresh.call("bind_check", address=under_test, driver="vfio-pci")
                assert routed["refused"] and "in use" in routed["refused"] and "SSH session" not in routed["refused"]
                forced = fresh.call("bind_check", address=under_test, driver="vfio-pci", force=True)
                if host.info.get("iommu"):
                    assert forced["refused"] is None, forced  # only the routes stood in the way
                untouched = {d["address"]: d["driver"] for d in fresh.call("status")["devices"]}
                assert (untouched[mgmt], untouched[under_test]) == (before[mgmt]["driver"], before[under_test]["driver"])
        finally:
            shell.run(f"kill -- -{int(timer)} 2>/dev/null; {undo}", check=False)  # the timer and its sleep
        assert shell.run(f"ps -o pid= -s {int(timer)}", check=False).strip() == "", "the undo timer is still running"
        assert shell.run("ip route show table main") == main_before
        assert shell.run("ip rule show") == rules_before
        assert shell.run(f"ip route show table {TABLE}", check=False).strip() == ""
    after = {d["address"]: d for d in host.call("status")["devices"]}
    assert after[mgmt]["carries_session"] and after[under_test]["active"] is False
