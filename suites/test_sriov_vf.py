"""SR-IOV data path and isolation: VFs driven by the PMD while their PF stays on its kernel
driver — for every NIC whose profile claims 'sriov' and whose VF model the PMD drives.

A VF talks to the wire, to its sibling VFs and to its own PF's kernel netdev through the
NIC's internal switch, which the PF's kernel driver programs (the VF's MAC, its queues enabled). Every frame carries a
sequence number; counts and "every number arrived once" are asserted, never the order.
The VF's own counters must move by what the PMD sent. Isolation: the IOMMU blocks a VF's
DMA outside what its user mapped, and the fault names the VF (its own requester ID), not
the PF; the switch delivers a frame only to the VF whose MAC it carries.
"""
from __future__ import annotations

import time

import allure
import pytest

from fixtures.evidence import attach_json, require_isolation
from fixtures.pmd import all_arrived, path_ready_between, path_ready_from_kernel, path_ready_to_kernel, wait_link
from nictest.isolation.verdict import parse_faults, short_bdf, verdict

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.datapath, pytest.mark.nic_feature("sriov")]

N = 1000
SIZE = 64
WINDOW = 128                # frames ahead of the receiver: fewer than its RX ring holds
KERNEL_RATE_PPS = 20_000    # what a kernel AF_PACKET receiver keeps up with


def _vf_to_kernel(host, port, link) -> tuple:
    """N frames VF -> the peer's kernel in windows (each sent once the previous arrived);
    the PMD's TX result and the peer's AF_PACKET capture."""
    before = link.counters()["rx_packets"]
    host.call("pmd_kernel_rx_start", ifname=link.ifname, count=N, timeout_ms=60000)
    sent = 0
    try:
        while sent < N:
            n = min(WINDOW, N - sent)
            tx = port.call("pmd_tx", count=n, size=SIZE, seq_start=sent, dst=link.mac, rate_pps=KERNEL_RATE_PPS,
                           timeout_ms=5000)
            sent += tx["packets"]
            if tx["packets"] != n:
                break
            deadline = time.monotonic() + 5.0
            while link.counters()["rx_packets"] - before < sent and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        rx = host.call("pmd_kernel_rx_wait", ifname=link.ifname, timeout_ms=60000)
    return sent, rx


def _kernel_to_vf(host, link, port, dst: str, count: int = N) -> tuple:
    """`count` frames from the peer's kernel to `dst`, each window received by `port` before the next."""
    sent, got = 0, {"packets": 0, "bad": 0, "desc_errors": 0, "seq_sum": 0, "seq_sqsum": 0}
    while sent < count:
        n = min(WINDOW, count - sent)
        tx = host.call("pmd_kernel_tx", ifname=link.ifname, count=n, size=SIZE, seq_start=sent, dst=dst,
                       timeout_ms=5000)
        rx = port.call("pmd_rx", count=n, timeout_ms=5000, expect_seq=sent)
        sent += tx["packets"]
        for key in got:
            got[key] = (got[key] + rx[key]) % (1 << 64)
        if tx["packets"] != n or rx["timed_out"]:
            break
    return sent, got


def test_vf_exchanges_frames_with_the_cabled_peer(host, vf_ports, peer_link, record_property):
    """VF -> the cabled NIC's kernel and back, counted exactly; the VF's counters agree."""
    (port,) = vf_ports(1)
    wait_link(port)
    record_property("vf_to_peer_ready_seconds", round(path_ready_to_kernel(port, peer_link), 3))
    before = port.call("pmd_stats")
    sent, rx = _vf_to_kernel(host, port, peer_link)
    after = port.call("pmd_stats")
    attach_json("VF -> peer: the peer's capture", rx)
    assert sent == N, f"{port.address}: the PMD completed {sent} of {N} frames"
    assert rx["bad"] == 0 and all_arrived(rx, N), f"the peer's capture of the VF's frames: {rx}"
    assert after["tx_packets"] - before["tx_packets"] == N, (
        f"{port.address}: the VF's transmit counter moved by {after['tx_packets'] - before['tx_packets']}, "
        f"the PMD sent {N}")

    record_property("peer_to_vf_ready_seconds", round(path_ready_from_kernel(peer_link, port), 3))
    before = port.call("pmd_stats")
    sent, got = _kernel_to_vf(host, peer_link, port, port.info["mac"])
    after = port.call("pmd_stats")
    attach_json("peer -> VF: what the PMD received", got)
    assert sent == N, f"the peer's kernel sent {sent} of {N} frames before a window went missing: {got}"
    assert got["bad"] == 0 and got["desc_errors"] == 0 and all_arrived(got, N), (
        f"{port.address} did not receive every frame exactly once: {got}")
    assert after["rx_packets"] - before["rx_packets"] >= N, (before, after)


def test_vfs_of_one_pf_switch_frames_to_each_other_by_mac(host, vf_ports, peer_link, record_property):
    """VF <-> VF through the NIC's internal switch, both ways, counted exactly; and a frame the
    peer sends to one VF's MAC reaches that VF only."""
    a, b = vf_ports(2)
    assert a.info["mac"] != b.info["mac"], f"two VFs with one MAC: {a.info['mac']}"
    for tx_port, rx_port in ((a, b), (b, a)):
        name = f"{tx_port.address} -> {rx_port.address}"
        record_property(f"ready_seconds {name}", round(path_ready_between(tx_port, rx_port), 3))
        with allure.step(f"{N} x {SIZE} B {name}"):
            res = host.call("pmd_txrx", tx_port=tx_port.port, rx_port=rx_port.port, count=N, size=SIZE,
                            seq_start=0, timeout_ms=5000)
        attach_json(name, res)
        assert res["tx"]["packets"] == N, f"{name}: sent {res['tx']['packets']} of {N}"
        assert res["rx"]["bad"] == 0 and all_arrived(res["rx"], N), f"{name}: not every frame arrived once: {res['rx']}"

    path_ready_from_kernel(peer_link, b)
    a.call("pmd_rx", count=1 << 20, timeout_ms=300)   # whatever reached `a` before: not counted
    sent, got = _kernel_to_vf(host, peer_link, b, b.info["mac"])
    assert sent == N and all_arrived(got, N), f"peer -> {b.address}: {got}"
    stray = a.call("pmd_rx", count=1, timeout_ms=500)
    assert stray["packets"] == 0, (f"{a.address} received {stray['packets']} of the frames sent to "
                                   f"{b.address}'s MAC {b.info['mac']}: {stray}")


def test_vf_and_its_pf_exchange_frames_on_the_kernel_path(host, nic, vf_ports, record_property):
    """VF -> its own PF's kernel netdev and back, through the NIC's switch (no cable involved),
    counted exactly."""
    (port,) = vf_ports(1)
    link = PfLink(host, nic)
    record_property("vf_to_pf_ready_seconds", round(path_ready_to_kernel(port, link), 3))
    sent, rx = _vf_to_kernel(host, port, link)
    attach_json(f"VF -> PF {link.ifname}: the PF's capture", rx)
    assert sent == N and rx["bad"] == 0 and all_arrived(rx, N), (
        f"{port.address} -> its PF {link.ifname}: sent {sent}, the PF's capture {rx}")
    path_ready_from_kernel(link, port)
    sent, got = _kernel_to_vf(host, link, port, port.info["mac"])
    assert sent == N and got["bad"] == 0 and all_arrived(got, N), (
        f"PF {link.ifname} -> {port.address}: sent {sent}, the PMD received {got}")


class PfLink:
    """The PF's netdev seen like a peer's (ifname, mac, counters) for the kernel-path helpers."""

    def __init__(self, host, pf: dict) -> None:
        self.host, self.ifname, self.mac = host, pf["netdev"], pf["mac"]

    def counters(self) -> dict:
        return self.host.call("net_counters", ifname=self.ifname)


AFTER_RESET = 200


def test_a_vf_reset_leaves_the_pf_and_the_other_vf_working(host, nic, vf_ports, peer_link, record_property):
    """Reset one VF (FLR through VFIO where offered, else the driver's own reset) and bring it up
    again: it receives again, its sibling VF never stopped, and the PF's kernel netdev still
    takes frames from the wire."""
    a, b = vf_ports(2)
    kind = "vfio" if a.info["vfio_reset"] else "device"
    record_property("vf_reset_kind", kind)
    with allure.step(f"{a.address}: reset ({kind}) and re-initialise"):
        reset = a.call("iso_reset", kind=kind)
    record_property("vf_reset_seconds", reset["seconds"])
    mac = a.call("pmd_info")["mac"]     # the PF may have given the VF another MAC with the reset
    for port, dst in ((a, mac), (b, b.info["mac"])):
        wait_link(port)
        sent, got = _kernel_to_vf(host, peer_link, port, dst, AFTER_RESET)
        assert sent == AFTER_RESET and got["bad"] == 0 and all_arrived(got, AFTER_RESET), (
            f"peer -> {port.address} after {a.address} was reset: sent {sent}, received {got}")
    pf = host.call("net_counters", ifname=nic["netdev"])
    sent = host.call("pmd_kernel_tx", ifname=peer_link.ifname, count=AFTER_RESET, size=SIZE, dst=nic["mac"],
                     timeout_ms=5000)["packets"]
    deadline = time.monotonic() + 5.0
    while (host.call("net_counters", ifname=nic["netdev"])["rx_packets"] - pf["rx_packets"] < AFTER_RESET
           and time.monotonic() < deadline):
        time.sleep(0.05)
    rose = host.call("net_counters", ifname=nic["netdev"])["rx_packets"] - pf["rx_packets"]
    assert sent == AFTER_RESET and rose >= AFTER_RESET, (
        f"PF {nic['netdev']} took {rose} of {sent} frames from the wire after its VF {a.address} was reset")


CANARY_SIZE = 1 << 20


@pytest.mark.iommu
@pytest.mark.vfio
def test_vf_dma_outside_its_mappings_faults_naming_the_vf(host, nic, vf_ports, peer_link, kmsg, record_property):
    """RX into an IOVA the VF's user unmapped: nothing written, and the IOMMU's fault names the
    VF's own requester ID (a VF is isolated as a device of its own, not as part of its PF)."""
    require_isolation(host)
    (port,) = vf_ports(1)
    wait_link(port)
    path_ready_from_kernel(peer_link, port)
    canary = port.call("iso_canary", size=CANARY_SIZE)
    iova = canary["bus"]
    with allure.step(f"unmap the canary at IOVA {iova:#x}"):
        assert port.call("iso_dma", action="unmap", iova=iova, size=canary["size"])["errno"] == 0
    port.call("iso_rx_point", bus=iova)
    host.call("pmd_kernel_tx", ifname=peer_link.ifname, count=1, size=128, dst=port.info["mac"])
    attach_json("RX result (descriptor status: NOT evidence)", port.call("pmd_rx", count=1, timeout_ms=3000))
    changed = port.call("iso_canary_check", bus=iova)["changed_bytes"]
    delta = kmsg.wait_fault(port.address, iova, "Write")
    v = verdict(changed, delta["lines"], port.address, iova, kind="Write")
    attach_json("verdict", {"passed": v.passed, "reasons": v.reasons, "iova": hex(iova)})
    assert v.passed, f"{port.address}: RX into an unmapped IOVA: {v.explain()}"
    on_pf = [f.line for f in parse_faults(delta["lines"]) if f.device == short_bdf(nic["address"])]
    assert not on_pf, f"IOMMU faults name the PF {nic['address']} for the VF's DMA: {on_pf}"
