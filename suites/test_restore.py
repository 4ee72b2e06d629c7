"""Restoration: after a user-space session on a NIC, the host is exactly as it was.

Field by field against what was recorded before binding: driver, netdev name, MAC, MTU,
IP addresses, admin state and carrier, driver_override empty, no journal entry left,
/proc/sys/kernel/tainted unchanged, no new IOMMU/AER errors in the kernel log (the
delta starts at this test, so faults the isolation suite provoked on purpose are
excluded); then kernel-path traffic works again (the peer in its own network
namespace: ping and UDP both ways). Plus 20 bind/restore cycles on one NIC. A NIC that
shares its IOMMU group goes to vfio-pci with its whole group (whole_group), and every
member of the group must come back the same way.
"""
from __future__ import annotations

import time

import allure
import pytest

from fixtures.evidence import attach_json
from fixtures.nics import device, group_or_skip, group_peers, require_dma, require_driver
from fixtures.pmd import BACKENDS, no_driver_reason
from nictest.isolation.verdict import parse_faults

pytestmark = [pytest.mark.lab, pytest.mark.restore, pytest.mark.destructive, pytest.mark.whole_group]

CYCLES = 20
FIELDS = ("driver", "netdev", "mac", "mtu")


def snapshot(host, address: str) -> dict:
    """What restoration must bring back (cheap: one status, one ip addr, tainted, journal)."""
    dev = device(host, address)
    addrs, flags = [], []
    if dev.get("netdev"):
        for link in host.call("ip_addrs"):
            if link["ifname"] == dev["netdev"]:
                flags = sorted(f for f in link.get("flags", []) if f in ("UP", "LOWER_UP", "NO-CARRIER"))
                addrs = sorted(f"{a['family']} {a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []))
    journal = host.call("journal")
    return {**{f: dev.get(f) for f in FIELDS},
            "addresses": addrs, "link_flags": flags, "operstate": dev.get("operstate"), "carrier": dev.get("carrier"),
            "driver_override": dev.get("driver_override") or "",
            "journal_entries": [e["address"] for kind in journal.values() for e in kind if e["address"] == address],
            "tainted": host.call("tainted")["tainted"]}


def differences(before: dict, after: dict) -> dict:
    diff = {k: (before.get(k), after.get(k)) for k in before if k not in ("driver_override", "journal_entries")
            and before.get(k) != after.get(k)}
    if after["driver_override"]:
        diff["driver_override"] = ("", after["driver_override"])
    if after["journal_entries"]:
        diff["journal_entries"] = ([], after["journal_entries"])
    return diff


def settled(host, address: str, before: dict, timeout: float = 15.0) -> tuple:
    """The snapshot after restore, re-read until it matches or `timeout` (carrier and the
    link-local address come back asynchronously after the driver probes)."""
    deadline = time.monotonic() + timeout
    while True:
        after = snapshot(host, address)
        diff = differences(before, after)
        if not diff or time.monotonic() >= deadline:
            return after, diff
        time.sleep(0.5)


def steady(host, address: str, timeout: float = 15.0) -> dict:
    """The NIC's snapshot once its link has settled: an admin-up e1000e takes a moment after a
    (previous test's) restore to get carrier and then its link-local address, and a snapshot
    taken in between would make the later comparisons race that, not test the restore."""
    deadline = time.monotonic() + timeout
    last = snapshot(host, address)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = snapshot(host, address)
        if now == last and "NO-CARRIER" not in now["link_flags"]:
            return now
        last = now
    return last


def unexpected_kernel_errors(delta: dict) -> list:
    faults = {f.line for f in parse_faults(delta["lines"])}
    return sorted(faults | {ln for ln in delta["lines"] if "AER:" in ln or ("DMAR" in ln and "fault" in ln)})


def use_the_device(host, address: str, driver: str, with_pmd: bool, timings: dict) -> None:
    """With a PMD driver: open the port and send 100 frames. Without one: open the
    device through its backend (regions, IRQs, config, BAR mapped) and read its config."""
    if not with_pmd:
        dev = host.call("pmd_device_open", address=address, backend=BACKENDS[driver])["device_handle"]
        try:
            host.call("pmd_device_config", device=dev, offset=0, length=64)
        finally:
            host.call("pmd_device_close", device=dev)
        return
    port = host.call("pmd_open", address=address, backend=BACKENDS[driver])["port"]
    try:
        started = time.monotonic()
        tx = host.call("pmd_tx", port=port, count=100, size=64, timeout_ms=3000)
        timings["tx_seconds"] = round(time.monotonic() - started, 3)
        assert tx["packets"] == 100, tx
    finally:
        host.call("pmd_close", port=port)


def session(host, address: str, driver: str, allow_uio: bool, record_property=None, group: bool = False,
            with_pmd: bool = True) -> dict:
    """bind (with its IOMMU group if `group`) -> use the device (PMD TX, or a driverless open)
    -> close -> restore; restore runs whatever failed."""
    timings = {}
    started = time.monotonic()
    host.call("bind", address=address, driver=driver, allow_uio=allow_uio, group=group)
    timings["bind_seconds"] = round(time.monotonic() - started, 3)
    try:
        use_the_device(host, address, driver, with_pmd, timings)
    finally:
        started = time.monotonic()
        host.call("restore", address=address)
        timings["restore_seconds"] = round(time.monotonic() - started, 3)
    if record_property:
        for k, v in timings.items():
            record_property(k, v)
    return timings


def check_traffic(host, nic_if: str, peer_if: str) -> None:
    with allure.step(f"kernel path {nic_if} <-> {peer_if} (peer in its own netns)"):
        res = host.call("kernel_path_check", local_if=nic_if, peer_if=peer_if)
    attach_json("kernel-path traffic", res)
    assert res["peer_back"], f"{peer_if} did not come back from the network namespace"
    assert res["ping_nic_to_peer_ok"] and res["ping_peer_to_nic_ok"], (
        f"ping after restore: nic->peer rc {res['ping_nic_to_peer']['rc']}, peer->nic rc {res['ping_peer_to_nic']['rc']}")
    assert res["udp_ok"], f"UDP exchange after restore: {res}"


@pytest.fixture
def driver(host, _nictest_driver, request):
    require_driver(host, _nictest_driver, request.config)
    require_dma(host, _nictest_driver)  # the session sends frames
    return _nictest_driver


def test_session_restores_every_field(host, nic, peer, driver, device_evidence, kmsg, request, record_property):
    address = nic["address"]
    group = group_or_skip(request, nic, driver)
    others = group_peers(nic) if group else []
    before = steady(host, address)
    others_before = {a: steady(host, a) for a in others}
    attach_json("before", {address: before, **others_before})
    reason = no_driver_reason(host, nic)
    if reason:
        record_property("session", f"driverless open ({reason})")
    session(host, address, driver, request.config.getoption("allow_uio"), record_property, group=group,
            with_pmd=reason is None)
    after, diff = settled(host, address, before)
    attach_json("after", after)
    assert not diff, f"{address} not restored (before, after): {diff}"
    for other, was in others_before.items():
        _, left = settled(host, other, was)
        assert not left, f"{other}, bound with {address} as IOMMU group {nic['iommu_group']}, not restored: {left}"
    errors = unexpected_kernel_errors(kmsg.delta())
    assert not errors, f"new IOMMU/AER errors in the kernel log during the session: {errors}"
    check_traffic(host, after["netdev"], peer["netdev"])
    _, left = settled(host, address, before)
    assert left == {}, f"the traffic check left the NIC changed: {left}"


def test_twenty_bind_restore_cycles(host, nic, peer, driver, kmsg, request, record_property):
    if nic["address"] != host.spec.nics[0]:
        pytest.skip(f"the {CYCLES}-cycle run is on {host.spec.nics[0]} only (one NIC is enough; keeps the suite fast)")
    address = nic["address"]
    group = group_or_skip(request, nic, driver)
    before = steady(host, address)
    attach_json("before", before)
    allow_uio = request.config.getoption("allow_uio")
    started = time.monotonic()
    for cycle in range(1, CYCLES + 1):
        with allure.step(f"cycle {cycle}: bind {driver}{' with its IOMMU group' if group else ''}, restore, check"):
            t0 = time.monotonic()
            host.call("bind", address=address, driver=driver, allow_uio=allow_uio, group=group)
            host.call("restore", address=address)
            after, diff = settled(host, address, before)
            assert not diff, f"cycle {cycle}: {address} not restored (before, after): {diff}"
            errors = unexpected_kernel_errors(kmsg.delta())
            assert not errors, f"cycle {cycle}: new IOMMU/AER errors: {errors}"
            if cycle == 1:
                record_property("cycle_seconds_first", round(time.monotonic() - t0, 3))
    record_property("cycles", CYCLES)
    record_property("cycles_seconds", round(time.monotonic() - started, 2))
    check_traffic(host, before["netdev"], peer["netdev"])
