"""The PMD's VF driver against a PF on Linux igb, live: what it says when the PF cannot answer.

Needs `--host` with an SR-IOV NIC whose VF model the PMD drives (the igb labs). Linux igb
serves its VFs' mailbox from its interrupt handler, which it has only while the PF's netdev
is up: with the netdev down a VF reset never completes, and opening the VF must fail with
a sentence that names that, leaving the VF bound and restorable.
"""
from __future__ import annotations

import pytest

from fixtures.nics import bind_along, nic_lifecycle, require_driver, restore_along
from fixtures.pmd import require_pmd_driver
from nictest.binding import lifecycle as lc
from nictest.errors import PmdError

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def test_a_vf_of_a_pf_whose_netdev_is_down_refuses_to_open_naming_the_fix(host, nic, vfs, request):
    require_driver(host, lc.VFIO, request.config)
    (vf,) = vfs(1)
    require_pmd_driver(host, vf)
    previous = host.call("net_prepare", ifname=nic["netdev"], up=False, ipv6=False, carrier_timeout_ms=0)["previous"]
    life = nic_lifecycle(request, host, vf["address"])
    try:
        bind_along(life, host, lc.VFIO, False)
        try:
            with pytest.raises(PmdError, match="netdev up") as raised:
                host.call("pmd_open", address=vf["address"], backend="vfio")
        finally:
            restore_along(life, host, vf.get("driver"))
    finally:
        host.call("net_prepare", ifname=nic["netdev"], up=bool(previous["up"]),
                  ipv6=True if previous["ipv6"] is None else bool(previous["ipv6"]), carrier_timeout_ms=0)
