"""IOMMU isolation through VFIO: a device handed to user space reaches only the memory it
was given.

Evidence is the canary (no byte changed) plus an IOMMU fault logged for exactly this
device and address in the kernel log delta; never the descriptor status (the lab's NIC
reports a normal completion even when the IOMMU dropped the write). The pass/fail
decision is nictest.isolation.verdict (unit-tested to fail on a changed canary or a
missing fault). Hosts without an IOMMU skip: "isolation not provided on this host".
"""
from __future__ import annotations

import errno
import time

import allure
import pytest

from fixtures.evidence import attach_json, require_isolation
from fixtures.pmd import all_arrived, wait_link
from nictest.errors import PmdError
from nictest.isolation.verdict import verdict

pytestmark = [pytest.mark.lab, pytest.mark.iommu, pytest.mark.vfio, pytest.mark.destructive]

CANARY_SIZE = 1 << 20
FRAME = 128
NEVER_MAPPED_FALLBACK = 0x7F000000   # far from the PMD's IOVAs (0x10000000 + its DMA memory)


@pytest.fixture(autouse=True)
def _isolation_provided(host):
    """Before any binding: a host without an IOMMU provides no isolation to test."""
    require_isolation(host)


def _point_next_rx(pmd_port, iova: int, attempts: int = 5) -> None:
    """The peer's kernel may have sent a stray frame since the link came up: receive what is
    pending (EBUSY says a frame sits in the next descriptor), then point it at `iova`."""
    for attempt in range(attempts):
        try:
            pmd_port.call("iso_rx_point", bus=iova)
            return
        except PmdError as exc:
            if exc.errno != errno.EBUSY or attempt == attempts - 1:
                raise
            drained = pmd_port.call("pmd_rx", count=64, timeout_ms=200)
            attach_json(f"stray frames received before pointing RX (attempt {attempt + 1})", drained)


def _send_into(host, pmd_port, peer_link, iova: int, record_property) -> dict:
    """Point the next RX descriptor at `iova`, make the peer's kernel send one frame to the
    PMD, let the PMD consume the completed descriptor (which puts the ring's own buffer back)."""
    wait_link(pmd_port)
    _point_next_rx(pmd_port, iova)
    started = time.monotonic()
    host.call("pmd_kernel_tx", ifname=peer_link.ifname, count=1, size=FRAME, dst=pmd_port.info["mac"])
    rx = pmd_port.call("pmd_rx", count=1, timeout_ms=3000)
    record_property("rx_descriptor_completed_seconds", round(time.monotonic() - started, 3))
    attach_json("RX result (descriptor status: NOT evidence)", rx)
    return rx


def _never_mapped_iova(host, canary: dict) -> int:
    """The canary's physical address when it is not one of our IOVAs and lies within the IOVA
    width the host's IOMMU translates (its hello says; 32 bits when it does not): where the
    write would land if the device's addresses were not translated."""
    lo, hi = canary["dma_bus_base"], canary["dma_bus_base"] + canary["dma_size"]
    phys = canary["phys"] & ~0xFFF
    width = host.info.get("iommu_address_bits") or 32
    if phys and not lo <= phys < hi and phys + CANARY_SIZE <= 1 << width:
        return phys
    return NEVER_MAPPED_FALLBACK


def _judge(name, changed, delta, address, iova, kind):
    v = verdict(changed, delta["lines"], address, iova, kind=kind)
    attach_json(f"verdict: {name}", {"passed": v.passed, "reasons": v.reasons, "iova": hex(iova),
                                     "canary_changed_bytes": changed,
                                     "matching_faults": [f.line for f in v.matching]})
    assert v.passed, f"{address}: {name}: {v.explain()}"


def test_rx_into_never_mapped_iova_is_blocked(host, device_evidence, port_evidence, peer_link, kmsg,
                                              record_property):
    port = port_evidence
    canary = port.call("iso_canary", size=CANARY_SIZE)
    iova = _never_mapped_iova(host, canary)
    record_property("never_mapped_iova", hex(iova))
    _send_into(host, port, peer_link, iova, record_property)
    changed = port.call("iso_canary_check", bus=canary["bus"])["changed_bytes"]
    delta = kmsg.wait_fault(port.address, iova, "Write")
    _judge("RX into a never-mapped IOVA", changed, delta, port.address, iova, "Write")


def test_rx_into_unmapped_canary_is_blocked(host, device_evidence, port_evidence, peer_link, kmsg,
                                            record_property):
    port = port_evidence
    canary = port.call("iso_canary", size=CANARY_SIZE)
    iova = canary["bus"]
    with allure.step(f"unmap the canary at IOVA {iova:#x}"):
        assert port.call("iso_dma", action="unmap", iova=iova, size=canary["size"])["errno"] == 0
    _send_into(host, port, peer_link, iova, record_property)
    changed = port.call("iso_canary_check", bus=iova)["changed_bytes"]
    delta = kmsg.wait_fault(port.address, iova, "Write")
    _judge("RX into a mapped-then-unmapped canary", changed, delta, port.address, iova, "Write")


def test_tx_from_unmapped_iova_does_not_leak(host, device_evidence, port_evidence, peer_link, kmsg,
                                        record_property):
    port = port_evidence
    wait_link(port)
    canary = port.call("iso_canary", size=CANARY_SIZE)
    iova = canary["bus"]
    assert port.call("iso_dma", action="unmap", iova=iova, size=canary["size"])["errno"] == 0
    host.call("iso_capture_start", ifname=peer_link.ifname, seconds=2.5)
    time.sleep(0.3)
    try:
        port.call("iso_tx_from", bus=iova, size=FRAME)
    finally:
        capture = host.call("iso_capture_wait", ifname=peer_link.ifname)
    attach_json("peer capture (promiscuous)", capture)
    record_property("peer_frames_captured", capture["count"])
    assert capture["leaked"] == 0, f"the peer captured {capture['leaked']} frame(s) carrying the unmapped buffer's bytes"
    delta = kmsg.wait_fault(port.address, iova, "Read")
    _judge("TX from an unmapped IOVA", 0, delta, port.address, iova, "Read")


# Generic register names every PMD driver exports (nictest/pmd/csrc/pmd.h).
RING_REGS = ("rx ring base", "rx ring length", "tx ring base", "tx ring length", "rx control", "tx control")


def test_recovery_after_fault_and_reset(host, device_evidence, port_evidence, peer_link, kmsg,
                                        record_property):
    port = port_evidence
    canary = port.call("iso_canary", size=CANARY_SIZE)
    iova = canary["bus"]
    assert port.call("iso_dma", action="unmap", iova=iova, size=canary["size"])["errno"] == 0
    _send_into(host, port, peer_link, iova, record_property)
    _judge("RX fault before the reset", port.call("iso_canary_check", bus=iova)["changed_bytes"],
           kmsg.wait_fault(port.address, iova, "Write"), port.address, iova, "Write")
    at_open = port.info["registers"]
    kind = "vfio" if port.info["vfio_reset"] else "device"   # VFIO offers no reset for some functions
    record_property("reset_kind", kind)
    with allure.step(f"scribble the rx ring base, then reset ({kind}) + re-initialise"):
        port.call("pmd_reg", register="rx ring base", value=0xDEAD0000)
        reset = port.call("iso_reset", kind=kind)
    record_property("vfio_reset_seconds", reset["seconds"])
    attach_json("registers after reset + re-init", {k: f"{v:#010x}" for k, v in reset["registers"].items()})
    wrong = {r: (hex(at_open[r]), hex(reset["registers"].get(r, -1)))
             for r in RING_REGS if r in at_open and reset["registers"].get(r) != at_open[r]}
    assert not wrong, f"registers not re-initialised after the reset (at open, now): {wrong}"
    wait_link(port)
    n = 200
    host.call("pmd_kernel_rx_start", ifname=peer_link.ifname, count=n, timeout_ms=10000)
    try:
        tx = port.call("pmd_tx", count=n, size=64, dst=peer_link.mac, rate_pps=20000, timeout_ms=5000)
    finally:
        krx = host.call("pmd_kernel_rx_wait", ifname=peer_link.ifname, timeout_ms=20000)
    assert tx["packets"] == n and all_arrived(krx, n), f"TX after reset: sent {tx['packets']}, peer got {krx}"
    # The peer sends all n first, then the PMD receives them: n fits the RX ring, as in the data-path
    # suite's paced receive. (Receiving while the frames come in lost 1-18 of 200 on lab-igb under
    # CI load, although the ring holds them all; the re-initialised ring is what is under test here.)
    sent = host.call("pmd_kernel_tx", ifname=peer_link.ifname, count=n, size=64, dst=port.info["mac"])
    rx = port.call("pmd_rx", count=n, timeout_ms=15000)
    assert sent["packets"] == n and rx["bad"] == 0 and all_arrived(rx, n), f"RX after reset: sent {sent}, got {rx}"


# Documented errors of the PMD's map/unmap (nictest/pmd/csrc/port.c, vfio.c; the kernel's
# VFIO_IOMMU_MAP_DMA gives EEXIST for an overlap and EINVAL for a range that wraps).
def test_map_unmap_api_errors(port_evidence, record_property):
    port = port_evidence
    canary = port.call("iso_canary", size=2 * 4096)
    iova, off = canary["bus"], canary["offset"]
    cases = {
        "overlap (IOVA already mapped)": (dict(action="map", iova=iova, offset=off, size=4096), errno.EEXIST),
        "unaligned size": (dict(action="map", iova=0x7F000000, offset=off, size=100), errno.EINVAL),
        "unaligned IOVA": (dict(action="map", iova=0x7F000800, offset=off, size=4096), errno.EINVAL),
        "IOVA overflow (wraps past 2^64)": (dict(action="map", iova=(1 << 64) - 4096, offset=off, size=2 * 4096),
                                            errno.EINVAL),
        "unmap never mapped": (dict(action="unmap", iova=0x7F000000, size=4096), errno.EINVAL),
        "unmap part of a mapping": (dict(action="unmap", iova=iova, size=4096), errno.EINVAL),
    }
    got = {name: port.call("iso_dma", **args) for name, (args, _) in cases.items()}
    attach_json("map/unmap errors", got)
    wrong = {name: f"{got[name]['name']} (want {errno.errorcode[want]}): {got[name]['message']}"
             for name, (_, want) in cases.items() if got[name]["errno"] != want}
    assert not wrong, wrong
    # Correct calls still work: unmap exactly, map again at a fresh IOVA, unmap it.
    assert port.call("iso_dma", action="unmap", iova=iova, size=canary["size"])["errno"] == 0
    assert port.call("iso_dma", action="map", iova=0x7F000000, offset=off, size=4096)["errno"] == 0
    assert port.call("iso_dma", action="unmap", iova=0x7F000000, size=4096)["errno"] == 0


def test_group_viable_only_with_vfio_or_unbound_members(host, bound_nic):
    group = int(bound_nic.bind["iommu_group"])
    members = host.call("iommu_group_members", group=group)
    probe = host.call("vfio_probe", group=group)
    attach_json(f"IOMMU group {group}", {"members": members, "vfio": probe})
    endpoints = [m for m in members if not m["bridge"]]
    all_safe = all(m["driver"] in (None, "vfio-pci") for m in endpoints)
    assert bound_nic.address in {m["address"] for m in members}
    assert probe["viable"] == all_safe, (f"group {group} viable={probe['viable']} but members are "
                                         f"{[(m['address'], m['driver']) for m in endpoints]}")
    assert probe["viable"], f"group {group} is not viable with {bound_nic.address} on vfio-pci"


def test_group_node_is_root_only(host, bound_nic, record_property):
    node = f"/dev/vfio/{bound_nic.bind['iommu_group']}"
    st = host.call("file_stat", path=node)
    attach_json(f"stat {node}", st)
    assert st["uid"] == 0 and st["mode"] & 0o077 == 0, f"{node} is not root-only: uid {st['uid']} mode {st['mode']:o}"
    tried = host.call("open_as_user", path=node, user="nobody")
    attach_json(f"open {node} as nobody", tried)
    record_property("unprivileged_open", tried["name"])
    assert tried["errno"] == errno.EACCES, f"nobody opening {node}: {tried['name']} (want EACCES)"
