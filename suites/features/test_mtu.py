"""Feature `mtu`: frames up to the model's maximum (the profile's mtu.max_frame, bytes with
FCS) are received whole, in both directions; frames longer than the configured maximum are
dropped and counted as oversize (unless the profile says mtu.oversize_counted false).

Frames longer than one RX buffer span several descriptors: the PMD gathers them and the C
loop checks each frame's length, pattern and sequence number whole. The drop check sends
frames well over the limit (by OVER bytes): the exact boundary is the datasheet's, and an
emulated MAC may compare its limit with or without the FCS.
"""
from __future__ import annotations

import pytest

from fixtures.traffic import arrived, dropped, settle
from nictest.plugin.features import NOT_TESTABLE

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

FCS = 4
STANDARD_FRAME = 1518     # the Ethernet maximum with FCS, no VLAN tag
OVER = 64
N = 8                     # frames per size: 8 of the largest fit any RX ring of 64 or more


def _sizes(max_frame: int, buf_size: int = 2048) -> list:
    """Frame lengths without FCS: the standard maximum, one buffer exactly, one byte into a
    second buffer, and the model's maximum."""
    top = max_frame - FCS
    return sorted({s for s in (STANDARD_FRAME - FCS, buf_size, buf_size + 1, top) if s <= top})


def _whole_both_ways(feature, pair, max_frame: int) -> list:
    limit = pair.port.call("pmd_set_max_frame", max_frame=max_frame)["limit"]
    feature.expect(limit >= max_frame, f"the driver set a receive limit of {limit} B")
    pair.peer.call("pmd_set_max_frame", max_frame=max_frame)
    settle(pair.peer, pair.port)
    settle(pair.port, pair.peer)
    seq = 0
    for tx, rx, way in ((pair.peer, pair.port, "received"), (pair.port, pair.peer, "sent")):
        for size in _sizes(max_frame):
            got = arrived(tx, rx, rx.info["mac"], N, size, seq)
            feature.expect(got["all"], f"{N} frames of {size + FCS} B {way} by {pair.port.address}: "
                                       f"{got['packets']} arrived, {got['bad']} bad, "
                                       f"{got['desc_errors']} with descriptor errors")
            seq += N
    return _sizes(max_frame)


def _over_dropped(feature, pair, configured: int, seq: int) -> None:
    """Configure `configured`; frames OVER bytes past the MAC's limit are dropped (and counted),
    frames under it arrive. A MAC with a fixed long-packet size (no programmable limit) has
    nothing to drop below its fixed size: only the standard maximum is checked there."""
    limit = pair.port.call("pmd_set_max_frame", max_frame=configured)["limit"]
    if limit != configured and configured != STANDARD_FRAME:
        return
    settle(pair.peer, pair.port)
    pair.port.call("pmd_stats_read")  # clears the counters
    size = limit + OVER - FCS
    got = dropped(pair.peer, pair.port, pair.port.info["mac"], N, size, seq)
    counters = pair.port.call("pmd_stats_read")
    where = f"receive limit {limit} B (asked {configured} B): {N} frames of {size + FCS} B"
    feature.expect(got["marker"], f"{where}: the marker frame after them did not arrive ({got})")
    feature.expect(got["leaked"] == 0, f"{where}: {got['leaked']} arrived")
    want = N if feature.params.get("oversize_counted", True) else 0
    feature.expect(counters["rx_oversize"] == want, f"{where}: the oversize counter counted "
                                                    f"{counters['rx_oversize']}, want {want} ({counters})")
    ok = arrived(pair.peer, pair.port, pair.port.info["mac"], N, limit - FCS - 4, seq + N + 1)
    feature.expect(ok["all"], f"receive limit {limit} B: frames of {limit - 4} B (under it) did not all "
                              f"arrive: {ok['packets']} of {N}")


@pytest.mark.nic_feature("mtu", needs=("pmd", "peer"))
def test_max_frame_arrives_whole_both_ways_and_longer_frames_are_dropped(feature, pair, record_property):
    max_frame = feature.params["max_frame"]
    peer_max = pair.peer.info["model"]["max_frame"]
    if peer_max < max_frame:
        pytest.skip(f"{NOT_TESTABLE}the peer {pair.peer.address} takes frames of at most {peer_max} B, "
                    f"the claim is {max_frame} B")
    sizes = _whole_both_ways(feature, pair, max_frame)
    record_property("mtu_sizes", ",".join(str(s + FCS) for s in sizes))
    _over_dropped(feature, pair, STANDARD_FRAME, 1 << 20)
    if max_frame + OVER - FCS <= peer_max:
        _over_dropped(feature, pair, max_frame, 2 << 20)
