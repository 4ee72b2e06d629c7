"""Data-path conformance on a cabled pair (hosts.toml `links`): the PMD and the kernel
exchange real frames in both directions, and PMD <-> PMD with both NICs bound.

Every frame carries a sequence number and a pattern the C loops check; counts, pattern and
"every sequence number arrived once" are asserted, never the order (the lab's switch
reorders under load). Packets-per-second figures are recorded (record_property + allure),
not asserted.
"""
from __future__ import annotations

import json
import time

import allure
import pytest

from fixtures.pmd import (
    all_arrived,
    ensure_built,
    path_ready_between,
    path_ready_from_kernel,
    path_ready_to_kernel,
    peer_restore,
    peer_up,
    wait_link,
)

pytestmark = [pytest.mark.lab, pytest.mark.datapath]

N = 5000
SIZE = 64


def _record(record_property, name: str, result: dict) -> None:
    record_property(f"{name}_pps", round(result["pps"]))
    allure.attach(json.dumps(result, indent=1, default=str), name, allure.attachment_type.JSON)


# Frames sent ahead of what the receiver has taken in: fewer than a kernel RX ring holds by
# default (e1000 256, e1000e 256, virtio 256) and than the PMD's RX ring (512), so a receiver
# that stalls for a moment keeps them in its ring; a NIC that drops on a full ring (as an
# 82540EM does) would otherwise turn the receiver's scheduling into lost frames.
KERNEL_WINDOW = 128


def _send_paced(host, pmd_port, peer_link, before_rx: int) -> dict:
    """N frames in windows of KERNEL_WINDOW at the rate the host's kernel receiver is fed
    (host.kernel_rx_pps: hosts.toml, or the lab's), each window sent once the peer's
    rx_packets counter shows the previous ones arrived (bounded wait); one summed result."""
    total = {"packets": 0, "bytes": 0, "seconds": 0.0, "ring_full": 0}
    while total["packets"] < N:
        n = min(KERNEL_WINDOW, N - total["packets"])
        tx = pmd_port.call("pmd_tx", count=n, size=SIZE, seq_start=total["packets"], dst=peer_link.mac,
                           rate_pps=host.kernel_rx_pps or 0, timeout_ms=5000)
        for key in total:
            total[key] += tx[key]
        if tx["packets"] != n:
            break
        deadline = time.monotonic() + 5.0
        while peer_link.counters()["rx_packets"] - before_rx < total["packets"] and time.monotonic() < deadline:
            time.sleep(0.01)
    total["pps"] = total["packets"] / total["seconds"] if total["seconds"] > 0 else 0.0
    return total


@pytest.mark.destructive
def test_pmd_tx_to_kernel_rx_on_the_peer(host, pmd_port, peer_link, record_property):
    wait_link(pmd_port)
    record_property("path_ready_seconds", round(path_ready_to_kernel(pmd_port, peer_link), 3))
    before = peer_link.counters()
    host.call("pmd_kernel_rx_start", ifname=peer_link.ifname, count=N, timeout_ms=60000)
    try:
        tx = _send_paced(host, pmd_port, peer_link, before["rx_packets"])
    finally:
        rx = host.call("pmd_kernel_rx_wait", ifname=peer_link.ifname, timeout_ms=90000)
    after = peer_link.counters()
    _record(record_property, "pmd_tx_to_kernel", tx)
    assert tx["packets"] == N, f"the PMD completed {tx['packets']} of {N} frames"
    rose = after["rx_packets"] - before["rx_packets"]
    assert rose >= N, f"peer {peer_link.ifname} rx_packets rose by {rose}, want >= {N}"
    assert rx["bad"] == 0, f"the peer's AF_PACKET capture saw corrupted frames: {rx}"
    assert all_arrived(rx, N), f"the peer's AF_PACKET capture disagrees with the counters: {rx}"


RX_SUMS = ("packets", "bytes", "bad", "out_of_order", "lost", "foreign", "desc_errors", "seq_sum", "seq_sqsum")


def _receive_paced(host, pmd_port, peer_link) -> tuple:
    """N frames from the peer's kernel in windows of KERNEL_WINDOW, each received by the PMD
    before the next is sent (a window fits the PMD's RX ring, so a receiver descheduled for a
    moment drops nothing); the summed kernel TX and PMD RX results."""
    tx = {"packets": 0, "bytes": 0, "seconds": 0.0}
    rx = {key: 0 for key in RX_SUMS}
    rx["timed_out"] = False
    while tx["packets"] < N:
        n = min(KERNEL_WINDOW, N - tx["packets"])
        sent = host.call("pmd_kernel_tx", ifname=peer_link.ifname, count=n, size=SIZE, seq_start=tx["packets"],
                         dst=pmd_port.info["mac"], timeout_ms=5000)
        got = pmd_port.call("pmd_rx", count=n, timeout_ms=5000, expect_seq=tx["packets"])
        for key in tx:
            tx[key] += sent[key]
        for key in RX_SUMS:
            rx[key] = (rx[key] + got[key]) % (1 << 64)
        rx["timed_out"] |= got["timed_out"]
        if sent["packets"] != n or got["timed_out"]:
            break
    tx["pps"] = tx["packets"] / tx["seconds"] if tx["seconds"] > 0 else 0.0
    return tx, rx


@pytest.mark.destructive
def test_kernel_tx_from_the_peer_to_pmd_rx(host, pmd_port, peer_link, record_property):
    wait_link(pmd_port)
    record_property("path_ready_seconds", round(path_ready_from_kernel(peer_link, pmd_port), 3))
    before = pmd_port.call("pmd_stats")
    tx, rx = _receive_paced(host, pmd_port, peer_link)
    after = pmd_port.call("pmd_stats")
    _record(record_property, "kernel_tx_to_pmd", tx)
    assert tx["packets"] == N, (f"stopped after {tx['packets']} of {N} frames sent by the peer's kernel "
                                f"(a window was not received in full); PMD RX so far {rx}, "
                                f"PMD counters before {before}, after {after}")
    assert rx["bad"] == 0 and rx["desc_errors"] == 0, rx
    assert all_arrived(rx, N), f"the PMD did not receive every frame exactly once: {rx}"
    assert after["rx_packets"] - before["rx_packets"] >= N, (before, after)


@pytest.mark.destructive
@pytest.mark.perf
def test_pmd_to_pmd_both_directions(host, pmd_port, peer_port, record_property):
    wait_link(pmd_port)
    wait_link(peer_port)
    count = 2 * N
    for name, tx_port, rx_port in (("pmd_to_peer_pmd", pmd_port, peer_port),
                                   ("peer_pmd_to_pmd", peer_port, pmd_port)):
        record_property(f"{name}_path_ready_seconds", round(path_ready_between(tx_port, rx_port), 3))
        with allure.step(f"{count} x {SIZE} B {tx_port.address} -> {rx_port.address}"):
            res = host.call("pmd_txrx", tx_port=tx_port.port, rx_port=rx_port.port, count=count, size=SIZE,
                            seq_start=0, timeout_ms=5000)
        _record(record_property, name, res["rx"])
        assert res["tx"]["packets"] == count, f"{name}: sent {res['tx']['packets']} of {count}"
        assert res["rx"]["bad"] == 0 and res["rx"]["desc_errors"] == 0, res["rx"]
        assert all_arrived(res["rx"], count), f"{name}: not every frame arrived exactly once: {res['rx']}"


@pytest.mark.destructive
@pytest.mark.perf
def test_pmd_to_pmd_with_tx_and_rx_threads_delivers_every_frame(host, pmd_port, peer_port, record_property):
    """TX and RX each on a C thread of their own (one core per port, as a DPDK application).
    The sender does not wait for the receiver, so the stream is sized to fit the receiver's
    RX ring: even a receiver that gets no CPU until the sender is done must then take every
    frame, once, intact and in order."""
    wait_link(pmd_port)
    wait_link(peer_port)
    count = min(peer_port.info["rx_ring"], pmd_port.info["tx_ring"]) // 2
    record_property("path_ready_seconds", round(path_ready_between(pmd_port, peer_port), 3))
    with allure.step(f"{count} x {SIZE} B {pmd_port.address} -> {peer_port.address}, TX and RX threads"):
        res = host.call("pmd_txrx", tx_port=pmd_port.port, rx_port=peer_port.port, count=count, size=SIZE,
                        seq_start=0, timeout_ms=5000, threads=2)
    _record(record_property, "pmd_threads", res["rx"])
    record_property("pmd_threads_cpus", res["cpus"])
    assert res["tx"]["packets"] == count, f"sent {res['tx']['packets']} of {count}"
    assert res["rx"]["bad"] == 0 and res["rx"]["desc_errors"] == 0, res["rx"]
    assert res["rx"]["out_of_order"] == 0 and res["rx"]["lost"] == 0, f"frames lost or out of order: {res['rx']}"
    assert all_arrived(res["rx"], count), f"not every frame arrived exactly once: {res['rx']}"


# io forwarding: frames primed per port, forwarded for FORWARD_MS after a warm-up of the same.
FORWARD_WINDOW, FORWARD_MS = 32, 1000


@pytest.mark.destructive
@pytest.mark.perf
def test_io_forwarding_between_the_pair_loses_no_frame(host, pmd_port, peer_port, record_property):
    """What each port receives leaves by the other (testpmd's io mode) with frames primed on
    both: they circulate until forwarding stops, then every primed frame is accounted for,
    drained from the rings or dropped on a full TX ring; none is lost on the way, and none
    arrives with descriptor errors. (Frames that are not ours are not forwarded: a switch
    between the two may send its own.)"""
    wait_link(pmd_port)
    wait_link(peer_port)
    path_ready_between(pmd_port, peer_port)
    path_ready_between(peer_port, pmd_port)
    with allure.step(f"io forwarding {pmd_port.address} <-> {peer_port.address}, {FORWARD_WINDOW} x {SIZE} B "
                     "primed per port"):
        res = host.call("pmd_forward", port_a=pmd_port.port, port_b=peer_port.port, size=SIZE,
                        window=FORWARD_WINDOW, warm_ms=FORWARD_MS, measure_ms=FORWARD_MS, timeout_ms=5000)
    _record(record_property, "io_forwarding", res)
    assert res["primed"] == 2 * FORWARD_WINDOW, res
    assert res["forwarded"] > res["primed"], f"the primed frames did not go round even once: {res}"
    assert res["desc_errors"] == 0, res
    assert res["drained"] + res["dropped"] == res["primed"], f"frames lost while forwarding: {res}"


@pytest.mark.perf
def test_kernel_path_on_the_same_pair(host, nic, peer, record_property):
    """The reference figure: both NICs on their kernel driver, AF_PACKET send -> AF_PACKET capture."""
    if not nic.get("netdev"):
        pytest.fail(f"{nic['address']} has no netdev: it should be on its kernel driver", pytrace=False)
    # The AF_PACKET loops live in the PMD's C library: build it first (with the build's own
    # timeout), not inside the capture's start, which only waits a few seconds for its socket.
    ensure_built(host)
    near = peer_up(host, nic)
    try:
        far = peer_up(host, peer)
        try:
            host.call("pmd_kernel_rx_start", ifname=near.ifname, count=N, timeout_ms=20000)
            try:
                tx = host.call("pmd_kernel_tx", ifname=far.ifname, count=N, size=SIZE, dst=near.mac,
                               timeout_ms=5000)
            finally:
                rx = host.call("pmd_kernel_rx_wait", ifname=near.ifname, timeout_ms=30000)
        finally:
            peer_restore(far)
    finally:
        peer_restore(near)
    _record(record_property, "kernel_to_kernel", tx)
    record_property("kernel_to_kernel_rx_packets", rx["packets"])
    assert tx["packets"] == N
    assert rx["bad"] == 0, rx
    # The kernel receiver may drop under a full-speed sender: the figure matters here, not loss.
    assert rx["packets"] > 0, f"nothing arrived on {near.ifname}: {rx}"
