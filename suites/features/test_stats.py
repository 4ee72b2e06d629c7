"""Feature `stats`: the hardware counters agree exactly with the traffic, in both directions,
and clear on read.

The pair is cabled only to each other, so every frame either port counts is one of the
test's. Byte counters count the FCS where the profile says so (stats.octets_include_fcs).
"""
from __future__ import annotations

import pytest

from fixtures.traffic import arrived, settle

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

FCS = 4
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
UNICAST_N, BROADCAST_N, MULTICAST_N = 100, 20, 10
SIZE = 100
ZERO_AFTER_READ = ("rx_packets", "rx_bytes", "rx_total_packets", "rx_broadcast", "rx_multicast",
                   "tx_packets", "tx_bytes", "tx_total_packets", "tx_broadcast", "tx_multicast")
# Nothing goes wrong on a clean cable: every error counter stays 0.
ERRORS = ("crc_errors", "rx_oversize", "rx_undersize", "rx_length_errors")
# Missed / no-buffer count drops for want of a descriptor; every frame of the test arrives
# (asserted), so these are recorded, not asserted: on lab-e1000-2 QEMU's e1000 counted 83
# such drops on one NIC that were none of the test's frames (cause not found yet).
RECORDED = ("rx_missed", "rx_no_buffer")


def _send_mix(feature, tx, rx) -> None:
    """Unicast, broadcast and multicast frames tx -> rx; rx takes each kind in (promiscuous
    by default: the filters feature tests the filters)."""
    seq = 0
    for dst, n in ((rx.info["mac"], UNICAST_N), (BROADCAST, BROADCAST_N), (MULTICAST, MULTICAST_N)):
        got = arrived(tx, rx, dst, n, SIZE, seq)
        feature.expect(got["all"], f"{n} frames to {dst}: {got['packets']} arrived at {rx.address}")
        seq += n


def _check(feature, role: str, counters: dict, want: dict) -> None:
    for key, value in want.items():
        feature.expect(counters[key] == value, f"{role}: {key} = {counters[key]}, want {value} (all: {counters})")


@pytest.mark.nic_feature("stats", needs=("pmd", "peer"))
def test_counters_match_the_traffic_and_clear_on_read(feature, pair, record_property):
    fcs = FCS if feature.params["octets_include_fcs"] else 0
    total = UNICAST_N + BROADCAST_N + MULTICAST_N
    octets = total * (SIZE + fcs)
    settle(pair.port, pair.peer)
    for tx, rx, way in ((pair.peer, pair.port, "receives"), (pair.port, pair.peer, "sends")):
        for p in (tx, rx):
            p.call("pmd_stats_read")   # from zero: the warm-up frames are read away
        _send_mix(feature, tx, rx)
        sent, got = tx.call("pmd_stats_read"), rx.call("pmd_stats_read")
        me, other = (got, sent) if rx is pair.port else (sent, got)
        if way == "receives":
            _check(feature, f"{pair.port.address} receiving", me, {
                "rx_packets": total, "rx_total_packets": total, "rx_bytes": octets, "rx_total_bytes": octets,
                "rx_broadcast": BROADCAST_N, "rx_multicast": MULTICAST_N, "tx_packets": 0})
        else:
            _check(feature, f"{pair.port.address} sending", me, {
                "tx_packets": total, "tx_total_packets": total, "tx_bytes": octets, "tx_total_bytes": octets,
                "tx_broadcast": BROADCAST_N, "tx_multicast": MULTICAST_N, "rx_packets": 0})
        _check(feature, f"{pair.port.address} ({way})", me, {key: 0 for key in ERRORS})
        for key in RECORDED:
            record_property(f"{way}_{key}", me[key])
        again = pair.port.call("pmd_stats_read")
        _check(feature, f"{pair.port.address} read again at once (clear on read)", again,
               {key: 0 for key in ZERO_AFTER_READ})
    accumulated = pair.port.call("pmd_stats")
    feature.expect(accumulated["rx_packets"] >= total and accumulated["tx_packets"] >= total,
                   f"the port's accumulated counters lost the reads: {accumulated}")
