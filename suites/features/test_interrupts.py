"""Feature `interrupts`: interrupts through VFIO reach user space eventfds.

Which interrupt the port is tested with comes from the profile and VFIO: MSI-X where the
profile has capabilities.msix (each vector gets an eventfd; how many there are is
capabilities.msix.table_size, and VFIO must offer that many); where it has none, the
function's INTx line (conventional PCI): VFIO offers the INTx index with count 1 exactly
when the function has an interrupt pin, and a model that claims interrupts with neither
MSI-X nor an INTx line breaks its claim. INTx is level-triggered: VFIO masks the line each
time it signals the eventfd (VFIO_IRQ_INFO_AUTOMASKED) and the agent, like an interrupt
handler, reads the device's causes and unmasks it (nictest/agent/irq_ops.py).

Checked: a software trigger of each vector reaches its eventfd and no other; a frame from
the peer raises the RX vector the driver routed queue 0 to (on INTx: the line); while the
device masks the vector (its interrupt mask register) nothing arrives and the pending
interrupt arrives once unmasked. Only under VFIO: UIO has no per-vector eventfds (not
testable there). MSI alone (no MSI-X, no INTx) is not tested yet.

Not here: "no interrupt for a DMA the IOMMU blocked". Pointing the next RX buffer at a
never-mapped IOVA (as suites/test_iommu.py does) blocks the frame's write, but the
descriptor write-back goes to mapped memory and completes, so the RX vector fires (seen
on QEMU's 82576: one interrupt). A device cannot know a posted write was blocked; a check
needs a blocked read (descriptor fetch) instead.
"""
from __future__ import annotations

import pytest

from fixtures.interrupts import irq_eventfds, msi_claimed, msix_table_size, vfio_intx_count, vfio_msix_count
from fixtures.traffic import send
from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

RX_VECTOR = 0
WAIT_MS = 3000                # an emulated NIC in a TCG guest may take a while
QUIET_MS = 1000               # how long "nothing arrives" is watched once the frame is in


def _vectors(feature, port, nic_profile) -> dict:
    """The index to test and its vectors: MSI-X per the profile, else the INTx line VFIO offers."""
    table = msix_table_size(nic_profile)
    if table:
        offered = vfio_msix_count(port)
        feature.expect(offered == table, f"VFIO offers {offered} MSI-X vectors for {port.address}, the profile's "
                                         f"capabilities.msix.table_size is {table}")
        return {"index": "msix", "count": table, "rx": RX_VECTOR, "other": table - 1,
                "name": "MSI-X vector {}".format}
    intx = vfio_intx_count(port)
    if intx == 1:
        return {"index": "intx", "count": 1, "rx": 0, "other": 0, "name": lambda v: "the INTx line"}
    if msi_claimed(nic_profile):
        pytest.skip(f"{NOT_TESTABLE}the profile names MSI but no MSI-X, and VFIO offers no INTx for "
                    f"{port.address}: nictest tests MSI-X and INTx only")
    feature.fail(f"the profile names no MSI-X (capabilities.msix) and VFIO offers {intx} INTx vectors for "
                 f"{port.address} (no interrupt pin): nothing could interrupt")


@pytest.fixture
def vectors(feature, pair, nic_profile, record_property):
    """Eventfds on every vector of the port's index; the driver routes RX queue 0 to vector 0
    and the other causes to the last vector (INTx: both on the one line). Torn down afterwards."""
    port = pair.port
    if port.backend != "vfio":
        pytest.skip(f"{NOT_TESTABLE}{port.address} is on {port.driver} ({port.backend}): only VFIO "
                    "delivers each interrupt vector to an eventfd")
    v = _vectors(feature, port, nic_profile)
    record_property("irq_index", v["index"])
    with irq_eventfds(port, v["index"], v["count"]):
        yield v


def _drain(port) -> list:
    return port.call("pmd_irq_counts")["counts"]


def _enable(pair, vectors) -> None:
    pair.port.call("pmd_irq_enable", rx_vector=vectors["rx"], other_vector=vectors["other"])
    pair.port.call("pmd_rx", count=64, timeout_ms=200)   # strays from before: their interrupts too
    pair.port.call("pmd_irq_ack")
    _drain(pair.port)


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_software_trigger_reaches_the_vectors_eventfd(feature, pair, vectors):
    port = pair.port
    _drain(port)
    for vector in range(vectors["count"]):
        name = vectors["name"](vector)
        port.call("pmd_irq_trigger", vector=vector)
        got = port.call("pmd_irq_wait", vector=vector, timeout_ms=WAIT_MS)
        others = _drain(port)
        feature.expect(got["count"] == 1, f"software trigger of {name}: its eventfd counted "
                                          f"{got['count']} in {WAIT_MS} ms, want 1")
        feature.expect(not any(others), f"software trigger of {name}: the eventfds counted {others} after")


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_frame_from_the_peer_raises_the_rx_vector(feature, pair, vectors, record_property):
    _enable(pair, vectors)
    send(pair.peer, pair.port.info["mac"], 1, 64, 1)
    got = pair.port.call("pmd_irq_wait", vector=vectors["rx"], timeout_ms=WAIT_MS)
    rx = pair.port.call("pmd_rx", count=1, timeout_ms=WAIT_MS, expect_seq=1)
    record_property("rx_interrupt_seconds", got["seconds"])
    if got.get("causes"):
        record_property("rx_interrupt_causes", ",".join(f"{c:#x}" for c in got["causes"]))
    feature.expect(rx["packets"] == 1, f"the frame from {pair.peer.address} did not arrive ({rx})")
    feature.expect(got["count"] >= 1, f"a frame arrived on {pair.port.address} but {vectors['name'](vectors['rx'])} "
                                      f"did not fire within {WAIT_MS} ms")


@pytest.mark.nic_feature("interrupts", needs=("pmd", "peer"))
def test_masked_vector_stays_quiet_and_fires_once_unmasked(feature, pair, vectors):
    port = pair.port
    name = vectors["name"](vectors["rx"])
    _enable(pair, vectors)
    port.call("pmd_irq_mask", masked=True)
    try:
        send(pair.peer, port.info["mac"], 1, 64, 2)
        rx = port.call("pmd_rx", count=1, timeout_ms=WAIT_MS, expect_seq=2)
        feature.expect(rx["packets"] == 1, f"the frame from {pair.peer.address} did not arrive ({rx})")
        quiet = port.call("pmd_irq_wait", vector=vectors["rx"], timeout_ms=QUIET_MS)
        feature.expect(quiet["count"] == 0, f"{name} fired {quiet['count']} times while the device masked it")
    finally:
        port.call("pmd_irq_mask", masked=False)
    got = port.call("pmd_irq_wait", vector=vectors["rx"], timeout_ms=WAIT_MS)
    feature.expect(got["count"] >= 1, f"the RX interrupt held while masked did not arrive within {WAIT_MS} ms "
                                      f"of unmasking {name}")
