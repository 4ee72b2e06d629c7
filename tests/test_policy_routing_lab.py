"""The session-link guard under policy routing, on a QEMU lab (`--host lab3`).

Inside the guest the session's routes move to table 100, picked by
`ip rule from <session address>`, while the main table's default route goes out
of a NIC under test (00:03.0). The kernel still sends the session through the
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

MGMT, MGMT_IF = "0000:00:02.0", "enp0s2"
UNDER_TEST, UNDER_TEST_IF = "0000:00:03.0", "enp0s3"
TABLE, PRIORITY = 100, 100
TEST_NET = ("192.168.77.2/24", "192.168.77.1")  # on the NIC under test; nothing answers there
SELF_UNDO_AFTER = 300  # seconds: the guest's own safety net


def undo_script(session_local: str, mgmt_routes: list) -> str:
    readd = "".join(f"ip route replace {line} dev {MGMT_IF}; " for line in mgmt_routes)
    return (f"{readd}"
            f"ip route del default via {TEST_NET[1]} dev {UNDER_TEST_IF} 2>/dev/null; "
            f"ip addr flush dev {UNDER_TEST_IF}; ip link set {UNDER_TEST_IF} down; "
            f"while ip rule del priority {PRIORITY} 2>/dev/null; do :; done; "
            f"ip route flush table {TABLE} 2>/dev/null; true")


def setup_script(session_local: str, mgmt_routes: list) -> str:
    # Order matters: the rule and table 100 carry the session before main loses its route.
    lines = ["set -e",
             *(f"ip route add {line} dev {MGMT_IF} table {TABLE}" for line in mgmt_routes),
             f"ip rule add from {session_local} lookup {TABLE} priority {PRIORITY}",
             f"ip link set {UNDER_TEST_IF} up",
             f"ip addr add {TEST_NET[0]} dev {UNDER_TEST_IF}",
             f"ip route add default via {TEST_NET[1]} dev {UNDER_TEST_IF} onlink metric 10",
             *(f"ip route del {line} dev {MGMT_IF} table main" for line in mgmt_routes)]
    return "; ".join(lines)


def route_get(shell: LabShell, *argv: str) -> dict:
    return json.loads(shell.run("ip -j route get " + " ".join(shlex.quote(a) for a in argv)))[0]


def test_the_session_nic_is_named_and_refused_under_policy_routing(host, tmp_path):
    require_lab(host)
    with LabShell(host.spec) as shell:
        client, _port, session_local, _ = shell.run("echo $SSH_CONNECTION").split()
        main_before = shell.run("ip route show table main")
        rules_before = shell.run("ip rule show")
        mgmt_routes = [line.strip() for line in shell.run(f"ip route show table main dev {MGMT_IF}").splitlines()
                       if line.strip()]
        assert mgmt_routes, f"{MGMT_IF} has no routes in the main table: {main_before}"
        assert not shell.run(f"ip -br addr show dev {UNDER_TEST_IF}").split()[2:], \
            f"{UNDER_TEST_IF} already has addresses; the lab is not as the test expects"
        undo = undo_script(session_local, mgmt_routes)
        timer = shell.run(f"setsid sh -c {shlex.quote(f'sleep {SELF_UNDO_AFTER}; {undo}')} "
                          "</dev/null >/dev/null 2>&1 & echo $!").strip()
        try:
            shell.run(setup_script(session_local, mgmt_routes))
            # The scenario really is one where the main table alone points elsewhere:
            assert route_get(shell, client)["dev"] == UNDER_TEST_IF
            assert route_get(shell, client, "from", session_local)["dev"] == MGMT_IF
            (tmp_path / "proc/net").mkdir(parents=True)
            (tmp_path / "proc/net/route").write_text(shell.run("cat /proc/net/route"))
            assert routes.lookup(tmp_path, client).iface == UNDER_TEST_IF  # what the old guard would have said

            with hosts.connect(host.spec) as fresh:  # a new agent, started under the policy routing
                devices = {d["address"]: d for d in fresh.call("status")["devices"]}
                mgmt, nic = devices[MGMT], devices[UNDER_TEST]
                assert mgmt["carries_session"], f"the guard lost the session's NIC: {mgmt['active_reason']}"
                assert f"table {TABLE}" in mgmt["active_reason"] and session_local in mgmt["active_reason"]
                assert not nic["carries_session"], f"the NIC under test named as the session's: {nic['active_reason']}"
                assert nic["active"] and "0.0.0.0/0" in nic["active_reason"]  # it does carry the default route

                # Lift the allow-list on this private agent so the session guard itself is what refuses.
                fresh.call("session", allowed=None, controller=f"{socket.gethostname()} pid {os.getpid()}")
                for driver in ("vfio-pci", "uio_pci_generic"):
                    check = fresh.call("bind_check", address=MGMT, driver=driver, force=True, allow_uio=True)
                    assert check["refused"] and "carries the SSH session" in check["refused"], check
                routed = fresh.call("bind_check", address=UNDER_TEST, driver="vfio-pci")
                assert routed["refused"] and "in use" in routed["refused"] and "SSH session" not in routed["refused"]
                forced = fresh.call("bind_check", address=UNDER_TEST, driver="vfio-pci", force=True)
                if host.info.get("iommu"):
                    assert forced["refused"] is None, forced  # only the routes stood in the way
                untouched = {d["address"]: d["driver"] for d in fresh.call("status")["devices"]}
                assert (untouched[MGMT], untouched[UNDER_TEST]) == ("virtio-pci", "e1000e")
        finally:
            shell.run(f"kill -- -{int(timer)} 2>/dev/null; {undo}", check=False)  # the timer and its sleep
        assert shell.run(f"ps -o pid= -s {int(timer)}", check=False).strip() == "", "the undo timer is still running"
        assert shell.run("ip route show table main") == main_before
        assert shell.run("ip rule show") == rules_before
        assert shell.run(f"ip route show table {TABLE}", check=False).strip() == ""
    after = {d["address"]: d for d in host.call("status")["devices"]}
    assert after[MGMT]["carries_session"] and after[UNDER_TEST]["active"] is False
