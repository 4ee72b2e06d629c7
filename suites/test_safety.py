"""Refusals that protect the host, provoked on the real host: nothing may be touched."""
from __future__ import annotations

import os
import socket

import pytest

from nictest import hosts
from nictest.errors import DeviceHeld, RefusedError
from fixtures.nics import device, group_or_skip, group_peers, require_driver

pytestmark = [pytest.mark.lab, pytest.mark.safety, pytest.mark.whole_group]


def test_the_ssh_session_interface_is_refused_even_with_force(host, nics):
    """Proved through the agent's dry run (every check of a bind, nothing touched): a real
    forced bind of the session's NIC would cut this very session if the guard regressed."""
    if host.spec.kind == "local":
        pytest.skip("a local host has no SSH session interface")
    session = [n for n in nics if n.get("carries_session")]
    assert session, "no NIC carries the SSH session: cannot check its protection"
    target = session[0]
    # Lift the inventory allow-list for this agent so the session check itself is what refuses.
    host.call("session", allowed=None, controller=f"{socket.gethostname()} pid {os.getpid()}")
    try:
        for driver in ("vfio-pci", "uio_pci_generic"):
            verdict = host.call("bind_check", address=target["address"], driver=driver, force=True, allow_uio=True)
            assert verdict["refused"] and "SSH session" in verdict["refused"], verdict
        # The same dry run lets an inactive NIC through: the refusal above is the guard's, not the check's.
        free = [n for n in nics if not n["active"] and (host.spec.nics is None or n["address"] in host.spec.nics)]
        if free:
            # vfio-pci where the NIC is alone in its IOMMU group (a shared group refuses a single
            # bind, rightly), uio_pci_generic otherwise.
            endpoints = {n["address"] for n in nics}
            alone = host.info.get("iommu") and not (set(free[0]["iommu_group_members"]) & endpoints)
            verdict = host.call("bind_check", address=free[0]["address"],
                                driver="vfio-pci" if alone else "uio_pci_generic", allow_uio=True)
            assert verdict["refused"] is None, verdict
    finally:
        host.call("session", allowed=None if host.spec.nics is None else list(host.spec.nics),
                  controller=f"{socket.gethostname()} pid {os.getpid()}")
    assert device(host, target["address"])["driver"] == target["driver"]


def test_a_nic_outside_the_allow_list_is_refused(host, nics):
    if host.spec.nics is None:
        pytest.skip(f"{host.name} has no allow-list in hosts.toml")
    outside = [n for n in nics if n["address"] not in host.spec.nics]
    if not outside:
        pytest.skip("every NIC of the host is in the allow-list")
    with pytest.raises(RefusedError, match="allow-list"):
        host.call("bind", address=outside[0]["address"], driver="vfio-pci")
    assert device(host, outside[0]["address"])["driver"] == outside[0]["driver"]


def test_vfio_is_refused_before_anything_is_unbound_on_a_host_without_iommu(host, nic):
    if host.info.get("iommu"):
        pytest.skip(f"{host.name} has an IOMMU: vfio-pci is allowed there")
    with pytest.raises(RefusedError, match="IOMMU"):
        host.call("bind", address=nic["address"], driver="vfio-pci")
    after = device(host, nic["address"])
    assert (after["driver"], after["netdev"], after["driver_override"]) == \
        (nic["driver"], nic["netdev"], None)


def test_uio_without_opt_in_is_refused(host, nic):
    with pytest.raises(RefusedError, match="(?i)dma"):
        host.call("bind", address=nic["address"], driver="uio_pci_generic", allow_uio=False)
    assert device(host, nic["address"])["driver"] == nic["driver"]


def test_a_held_nic_is_refused_to_a_second_session(host, nic, request):
    driver = "vfio-pci" if host.info.get("iommu") else "uio_pci_generic"
    require_driver(host, driver, request.config)
    group = group_or_skip(request, nic, driver)  # a shared IOMMU group is held as a whole
    host.call("bind", address=nic["address"], driver=driver, allow_uio=request.config.getoption("allow_uio"),
              group=group)
    try:
        with hosts.connect(host.spec) as second:
            with pytest.raises(DeviceHeld, match="held by"):
                second.call("bind", address=nic["address"], driver=driver, allow_uio=True, group=group)
            with pytest.raises(DeviceHeld):
                second.call("restore", address=nic["address"])
    finally:
        host.call("restore", address=nic["address"])
    assert device(host, nic["address"])["driver"] == nic["driver"]


def test_single_bind_in_a_shared_group_is_refused_offering_group(host, nic):
    """VFIO takes whole groups: a lone vfio-pci bind of a NIC sharing its group is refused before
    anything is touched, and the refusal names the way that works (--group)."""
    if not host.info.get("iommu"):
        pytest.skip(f"{host.name} has no IOMMU: no IOMMU groups")
    peers = group_peers(nic)
    if not peers:
        pytest.skip(f"{nic['address']} is alone in IOMMU group {nic['iommu_group']}: a single bind is allowed")
    with pytest.raises(RefusedError, match=r"not viable.*--group"):
        host.call("bind", address=nic["address"], driver="vfio-pci")
    for address in [nic["address"]] + peers:
        after = device(host, address)
        assert after["driver"] not in ("vfio-pci", None) and after["netdev"] and not after["driver_override"], after
