"""DMA conformance: the PMD's DMA memory sits in hugepages, is mapped for the device, and
what the device writes lands there exactly (every size 60..1514, every byte checked in C).

Runs per (host, NIC, user-space driver); the device-written-data test needs the NIC's
cabled peer (hosts.toml `links`), which it binds and opens too.
"""
from __future__ import annotations

import json

import allure
import pytest

from fixtures.pmd import all_arrived, close_port, open_port, wait_link

pytestmark = [pytest.mark.lab, pytest.mark.dma, pytest.mark.destructive]

HUGEPAGE = 2 << 20
SIZES = (60, 61, 64, 65, 128, 255, 256, 512, 1000, 1024, 1500, 1513, 1514)
TOTAL = 10_000


def test_dma_memory_sits_in_hugepages(host, pmd_driver, bound_nic):
    before = host.call("pmd_memory")
    port = open_port(host, bound_nic.life, bound_nic.driver, bound_nic.before)
    try:
        during = host.call("pmd_memory")
    finally:
        close_port(port)
    after = host.call("pmd_memory")
    size = port.info["dma_size"]
    assert size > 0 and size % HUGEPAGE == 0, f"DMA memory of {size} bytes is not whole 2 MiB hugepages"
    assert during["hugetlb_bytes"] - before["hugetlb_bytes"] >= size, (before, during)
    assert before["free"] - during["free"] >= size // HUGEPAGE, (before, during)
    assert after["free"] == before["free"], f"hugepages not given back on close: {before} -> {after}"


def test_dma_memory_is_mapped_for_the_device(pmd_port):
    info = pmd_port.info
    base, size = info["dma_bus_base"], info["dma_size"]
    assert base, "the DMA memory has no bus address"
    for ring in ("rx_ring_bus", "tx_ring_bus"):
        assert base <= info[ring] < base + size, f"{ring} {info[ring]:#x} outside [{base:#x}, {base + size:#x})"
    regs = info["registers"]
    assert regs["rx ring base"] == info["rx_ring_bus"], "the device's RX ring base is not ours"
    assert regs["tx ring base"] == info["tx_ring_bus"], "the device's TX ring base is not ours"
    buffers = pmd_port.call("pmd_dma_buffers", count=8, size=2048)
    allure.attach(json.dumps(buffers, indent=1), "dma buffers", allure.attachment_type.JSON)
    for buf in buffers:
        assert buf["bus"] == base + buf["offset"] or pmd_port.backend == "uio", buf
        if pmd_port.backend == "uio":  # the bus address is the physical one: pagemap must agree
            assert buf["phys"], f"pagemap hides the physical address of {buf['virt']:#x} (not root?)"
            assert buf["bus"] == buf["phys"], buf


def test_device_written_data_lands_exactly_there(pmd_port, peer_port, record_property):
    """The peer sends TOTAL frames over all SIZES; the PMD under test receives them by DMA and
    the C loop checks every frame's length, pattern and sequence number in the DMA buffer."""
    wait_link(pmd_port)
    wait_link(peer_port)
    before = pmd_port.call("pmd_stats")
    per_size = TOTAL // len(SIZES)
    counts = [per_size + (1 if i < TOTAL % len(SIZES) else 0) for i in range(len(SIZES))]
    window = pmd_port.info["rx_ring"] // 2   # frames per burst: half the receiver's RX ring
    seq, results = 0, []
    for size, count in zip(SIZES, counts):
        # In windows smaller than the RX ring: a device that drops frames for a full ring
        # (QEMU's 82540EM does, a busy host makes the receiver late) loses nothing by design.
        for start in range(0, count, window):
            n = min(window, count - start)
            with allure.step(f"{n} x {size} B peer -> NIC under test"):
                res = pmd_port.host.call("pmd_txrx", tx_port=peer_port.port, rx_port=pmd_port.port,
                                         count=n, size=size, seq_start=seq, timeout_ms=5000)
            rx = res["rx"]
            results.append({"size": size, "count": n, "sent": res["tx"]["packets"], "received": rx["packets"],
                            "bad": rx["bad"], "desc_errors": rx["desc_errors"], "foreign": rx["foreign"]})
            assert res["tx"]["packets"] == n, f"{size} B: the peer sent {res['tx']['packets']} of {n}"
            assert rx["bad"] == 0 and rx["desc_errors"] == 0, f"{size} B: corrupted frames: {rx}"
            assert rx["bytes"] == n * size, f"{size} B: {rx['bytes']} bytes received, want {n * size}"
            assert all_arrived(rx, n, seq), f"{size} B: not every sequence number arrived exactly once: {rx}"
            seq += n
    allure.attach(json.dumps(results, indent=1), "per size", allure.attachment_type.JSON)
    stats = pmd_port.call("pmd_stats")
    record_property("dma_packets", seq)
    assert seq == TOTAL
    assert stats["rx_packets"] - before["rx_packets"] >= TOTAL, (before, stats)
    assert stats["crc_errors"] == before["crc_errors"], stats
