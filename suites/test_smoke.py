"""The blocking smoke stage: the plugin runs these first on each host. When one fails,
the host's other tests skip with its reason and the other hosts go on.

Agent reachable → discovery finds the allow-listed NICs on their kernel drivers →
one bind/restore cycle of the first NIC with a driver the host offers (with its whole
IOMMU group when it shares one: VFIO takes groups whole).
"""
from __future__ import annotations

import pytest

from fixtures.nics import (bind_along, bind_group_along, device, group_peers, needs_group, nic_lifecycle,
                           restore_along, restore_group_along)
from nictest.binding import lifecycle as lc

pytestmark = [pytest.mark.lab, pytest.mark.smoke]


def test_agent_answers(host):
    assert host.call("ping") == {"pong": True}, "the agent did not answer ping"
    assert host.info.get("kernel"), f"hello from {host.name} carries no kernel version: {host.info}"
    for op in ("status", "bind", "restore", "journal"):
        assert op in host.info.get("ops", ()), f"the agent on {host.name} lacks the {op!r} op"


def test_discovery_finds_the_nics_under_test(host):
    found = {dev["address"]: dev for dev in host.call("status")["devices"]}
    if host.spec.nics is None:  # no allow-list: every NIC that is not active
        wanted = [a for a, dev in found.items() if not dev["active"]]
    else:
        wanted = list(host.spec.nics)
    assert wanted, (f"{host.name} has no NICs to test: every NIC discovery found is active, or "
                    f"`nics` in hosts.toml is empty; list the NICs under test in `nics`")
    missing = [a for a in wanted if a not in found]
    assert not missing, f"{host.name}: allow-listed NICs not found by discovery: {missing}"
    for address in wanted:
        dev = found[address]
        assert dev["driver"] not in (None, lc.VFIO, lc.UIO) and dev["netdev"], \
            f"{address} is not on its kernel driver with a netdev: driver {dev['driver']}, netdev {dev['netdev']}"


def test_one_bind_restore_cycle(host, request):
    if host.info.get("iommu"):
        driver = lc.VFIO
    elif request.config.getoption("allow_uio"):
        driver = lc.UIO
    else:
        pytest.skip(f"{host.name} has no IOMMU and uio_pci_generic needs --allow-uio: no bind to try")
    address = host.spec.nics[0]
    before = device(host, address)
    if needs_group(before, driver):
        members = sorted([address] + group_peers(before))
        was = {m: device(host, m) for m in members}
        lives = [nic_lifecycle(request, host, m) for m in members]
        bind_group_along(lives, host, address, driver)
        try:
            assert {m: device(host, m)["driver"] for m in members} == {m: driver for m in members}
        finally:
            restore_group_along(lives, host, address)
    else:
        was, lives = {address: before}, [nic_lifecycle(request, host, address)]
        bind_along(lives[0], host, driver, request.config.getoption("allow_uio"))
        try:
            assert device(host, address)["driver"] == driver
        finally:
            restore_along(lives[0], host, before["driver"])
    for member, dev in was.items():
        after = device(host, member)
        assert (after["driver"], after["netdev"], after["mac"]) == (dev["driver"], dev["netdev"], dev["mac"])
    assert all(life.state == lc.RESTORED for life in lives)
