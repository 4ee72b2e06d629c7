"""SR-IOV rows of the fault matrix: a PF with 2 VFs (one on vfio-pci) when the controller is
SIGKILLed, the SSH transport is cut, or the host is reset. Every row must end with the PF as it
was (driver, netdev, MAC, MTU, addresses), sriov_numvfs back to 0, no VF left and no journal
entry — neither the PF's nor a VF's.

Runs on the first NIC under test that can create VFs (the igb lab's 82576); elsewhere it
skips saying so.
"""
from __future__ import annotations

import time

import pytest

from nictest import hosts
from tests.reliability.conftest import require_lab
from tests.reliability.test_controller_killed import kill, start_controller
from tests.reliability.test_host_reset import reset_and_replay

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


@pytest.fixture
def sriov_target(host, request) -> str:
    if not host.info.get("iommu"):
        pytest.skip(f"{host.name} has no IOMMU: the VF is bound to vfio-pci in these rows")
    wanted = request.config.getoption("nic") or list(host.spec.nics or ())
    for pf in host.call("vf_list")["pfs"]:
        if pf["pf"] in wanted and pf["total_vfs"] >= 2 and not pf["num_vfs"]:
            return pf["pf"]
    pytest.skip(f"no NIC under test on {host.name} can create 2 VFs (the igb lab's 82576 can)")


def wait_vfs_gone(host, run, pf: str, vfs: list, timeout: float, note: str) -> None:
    """The scenario's NIC checks, plus: sriov_numvfs 0, no VF, no VF journal entry."""
    run.wait_recovered(timeout=timeout, note=note)
    deadline = time.monotonic() + 15
    while True:
        listed = host.call("vf_list", address=pf)["pfs"][0]
        left = [e["address"] for kind in host.call("journal").values() for e in kind if e["address"] in vfs]
        if (not listed["num_vfs"] and not listed["vfs"] and not left) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert listed["num_vfs"] == 0 and not listed["vfs"], f"{pf} still has VFs: {listed['vfs']}"
    assert not left, f"journal entries of VFs left: {left}"


def test_controller_killed_with_vfs_bound(host, sriov_target, scenario):
    run = scenario("controller SIGKILL with 2 VFs, one on vfio-pci", sriov_target)
    proc, info = start_controller(host, sriov_target, "vfio-pci", "vfs")
    run.fault()
    kill(proc)
    wait_vfs_gone(host, run, sriov_target, info["vfs"], timeout=60,
                  note="the dead man's switch gives the VF back, then sriov_numvfs 0")


def test_ssh_transport_cut_with_vfs_bound(host, sriov_target, scenario):
    run = scenario("SSH transport cut with 2 VFs, one on vfio-pci", sriov_target)
    holder = hosts.connect(host.spec)
    try:
        made = holder.call("vf_create", address=sriov_target, num_vfs=2)
        vfs = [vf["address"] for vf in made["vfs"]]
        holder.call("bind", address=vfs[0], driver="vfio-pci")
        run.fault()
        holder._client.get_transport().close()  # no EOF on the channel first
    finally:
        holder.close()
    wait_vfs_gone(host, run, sriov_target, vfs, timeout=60, note="stdin closed: the dead man's switch")


def test_host_reset_with_vfs_bound(host, sriov_target, scenario):
    require_lab(host)
    run = scenario("host reset (system_reset) with 2 VFs, one on vfio-pci", sriov_target)
    holder = hosts.connect(host.spec)
    made = holder.call("vf_create", address=sriov_target, num_vfs=2)
    vfs = [vf["address"] for vf in made["vfs"]]
    holder.call("bind", address=vfs[0], driver="vfio-pci")
    replayed = reset_and_replay(host, holder, run, sriov_target)
    wait_vfs_gone(host, run, sriov_target, vfs, timeout=60,
                  note=f"VFs gone with the reboot; replayed {replayed}: the stale entries closed")
