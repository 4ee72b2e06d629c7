"""Feature `interrupts`: MSI-X through VFIO reaches user space eventfds.

Each vector of the MSI-X index gets an eventfd (VFIO_DEVICE_SET_IRQS); how many vectors
there are is the profile's capabilities.msix.table_size, and VFIO must offer that many.
Checked: a software trigger of each vector reaches its eventfd and no other; a frame from
the peer raises the RX vector the driver routed queue 0 to; while the device masks the
vector nothing arrives and the pending interrupt arrives once unmasked. Only under VFIO:
UIO has no per-vector eventfds (not testable there).

Not here: "no interrupt for a DMA the IOMMU blocked". Pointing the next RX buffer at a
never-mapped IOVA (as suites/test_iommu.py does) blocks the frame's write, but the
descriptor write-back goes to mapped memory and completes, so the RX vector fires (seen
on QEMU's 82576: one interrupt). A device cannot know a posted write was blocked; a check
needs a blocked read (descriptor fetch) instead.
"""
from __future__ import annotations

import pytest

from fixtures.interrupts import msix_eventfds, msix_table_size, vfio_msix_count
from fixtures.traffic import send
from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

RX_VECTOR = 0
WAIT_MS = 3000                # an emulated NIC in a TCG guest may take a while
QUIET_MS = 1000               # how long "nothing arrives" is watched once the frame is in


@pytest.fixture
def msix(feature, pair, nic_profile):
    """Eventfds on every MSI-X vector of the port; the driver routes RX queue 0 to vector 0
    and the other causes to the last vector. Torn down afterwards."""
    port = pair.port
    if port.backend != "vfio":
        pytest.skip(f"{NOT_TESTABLE}{port.address} is on {port.driver} ({port.backend}): only VFIO "
                    "delivers each interrupt vector to an eventfd")
    table = msix_table_size(nic_profile)
    if not table:
        pytest.skip(f"{NOT_TESTABLE}the profile names no capabilities.msix.table_size (no MSI-X)")
    offered = vfio_msix_count(port)
    feature.expect(offered == table, f"VFIO offers {offered} MSI-X vectors for {port.address}, the profile's "
                                     f"capabilities.msix.table_size is {table}")
    with msix_eventfds(port, table):
        yield {"count": table, "rx": RX_VECTOR, "other": table - 1}


def _drain(port) -> list:
    return port.call("pmd_irq_counts")["counts"]


def _enable(pair, msix) -> None:
    pair.port.call("pmd_irq_enable", rx_vector=msix["rx"], other_vector=msix["other"])
    pair.port.call("pmd_rx", count=64, timeout_ms=200)   # strays from before: their interrupts too
    pair.port.call("pmd_irq_ack")
    _drain(pair.port)


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_software_trigger_reaches_the_vectors_eventfd(feature, pair, msix):
    port = pair.port
    _drain(port)
    for vector in range(msix["count"]):
        port.call("pmd_irq_trigger", vector=vector)
        got = port.call("pmd_irq_wait", vector=vector, timeout_ms=WAIT_MS)
        others = _drain(port)
        feature.expect(got["count"] == 1, f"software trigger of MSI-X vector {vector}: its eventfd counted "
                                          f"{got['count']} in {WAIT_MS} ms, want 1")
        feature.expect(not any(others), f"software trigger of vector {vector}: other eventfds counted {others}")


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_frame_from_the_peer_raises_the_rx_vector(feature, pair, msix):
    _enable(pair, msix)
    send(pair.peer, pair.port.info["mac"], 1, 64, 1)
    got = pair.port.call("pmd_irq_wait", vector=msix["rx"], timeout_ms=WAIT_MS)
    rx = pair.port.call("pmd_rx", count=1, timeout_ms=WAIT_MS, expect_seq=1)
    feature.expect(rx["packets"] == 1, f"the frame from {pair.peer.address} did not arrive ({rx})")
    feature.expect(got["count"] >= 1, f"a frame arrived on {pair.port.address} but RX vector {msix['rx']} "
                                      f"did not fire within {WAIT_MS} ms")


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_masked_vector_stays_quiet_and_fires_once_unmasked(feature, pair, msix):
    port = pair.port
    _enable(pair, msix)
    port.call("pmd_irq_mask", masked=True)
    try:
        send(pair.peer, port.info["mac"], 1, 64, 2)
        rx = port.call("pmd_rx", count=1, timeout_ms=WAIT_MS, expect_seq=2)
        feature.expect(rx["packets"] == 1, f"the frame from {pair.peer.address} did not arrive ({rx})")
        quiet = port.call("pmd_irq_wait", vector=msix["rx"], timeout_ms=QUIET_MS)
        feature.expect(quiet["count"] == 0, f"RX vector {msix['rx']} fired {quiet['count']} times while the "
                                            f"device masked it")
    finally:
        port.call("pmd_irq_mask", masked=False)
    got = port.call("pmd_irq_wait", vector=msix["rx"], timeout_ms=WAIT_MS)
    feature.expect(got["count"] >= 1, f"the RX interrupt held while masked did not arrive within {WAIT_MS} ms "
                                      f"of unmasking vector {msix['rx']}")
