"""Feature `link`: a link taken down and back up from outside the NIC (the host's
set_link: on a QEMU lab the monitor's `set_link` on the NIC's cable) is seen by polling the
PMD's link state and, where the port takes MSI-X through VFIO, by the link-status-change
interrupt on the "other" vector. Hosts that cannot drive a link from outside (a real host's
cable) make this not testable. The link is always put back up, and must come up again.
"""
from __future__ import annotations

import contextlib
import time

import pytest

from fixtures.interrupts import msix_eventfds, msix_table_size, vfio_msix_count
from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

CHANGE_TIMEOUT = 10.0     # seconds for the link state to follow (TCG guest, QEMU's 500 ms autoneg)
POLL = 0.1


def _poll_link(port, want: bool, timeout: float = CHANGE_TIMEOUT) -> float | None:
    """Seconds until the PMD reads the link as `want`; None if it did not within timeout."""
    started = time.monotonic()
    while True:
        if port.call("pmd_link", timeout_ms=0)["link_up"] == want:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(POLL)


def _lsc_vector(port, nic_profile, stack: contextlib.ExitStack):
    """The MSI-X vector link changes are routed to, or None (and why) where the port has none."""
    table = msix_table_size(nic_profile)
    if port.backend != "vfio":
        return None, f"{port.backend}: no per-vector eventfds"
    if not table or vfio_msix_count(port) < table:
        return None, "no MSI-X vectors for this port"
    stack.enter_context(msix_eventfds(port, table))
    other = table - 1
    port.call("pmd_irq_enable", rx_vector=0, other_vector=other)
    port.call("pmd_irq_ack")
    port.call("pmd_irq_counts")
    return other, ""


def _lsc_fired(port, vector: int) -> int:
    got = port.call("pmd_irq_wait", vector=vector, timeout_ms=int(CHANGE_TIMEOUT * 1000))
    port.call("pmd_irq_ack")   # clears the cause: the next change raises it again
    port.call("pmd_irq_counts")
    return got["count"]


@pytest.mark.nic_feature("link", needs=("pmd", "peer"))
def test_link_cut_from_outside_is_seen_by_polling_and_interrupt(feature, pair, host, nic_profile,
                                                                record_property):
    port = pair.port
    reason = host.link_control_reason(port.address)
    if reason:
        pytest.skip(f"{NOT_TESTABLE}{reason}")
    with contextlib.ExitStack() as stack:
        vector, why = _lsc_vector(port, nic_profile, stack)
        record_property("lsc_interrupt", f"vector {vector}" if vector is not None else f"not checked: {why}")
        restored = False
        host.set_link(port.address, False)
        try:
            down_s = _poll_link(port, False)
            lsc_down = _lsc_fired(port, vector) if vector is not None else None
            host.set_link(port.address, True)
            restored = True
            up_s = _poll_link(port, True)
            lsc_up = _lsc_fired(port, vector) if vector is not None else None
        finally:
            if not restored:
                host.set_link(port.address, True)
        record_property("link_down_seen_s", down_s)
        record_property("link_up_seen_s", up_s)
        feature.expect(down_s is not None, f"{port.address}: the PMD still read link up {CHANGE_TIMEOUT:g}s after "
                                           "the link was cut from outside")
        feature.expect(up_s is not None, f"{port.address}: link not back up {CHANGE_TIMEOUT:g}s after it was "
                                         "restored from outside")
        if vector is not None:
            feature.expect(lsc_down, f"{port.address}: no link-status-change interrupt on vector {vector} for "
                                     "the link going down")
            feature.expect(lsc_up, f"{port.address}: no link-status-change interrupt on vector {vector} for "
                                   "the link coming back")
    assert port.call("pmd_link", timeout_ms=5000)["link_up"], f"{port.address}: link not up after the test"
