"""Feature `checksum`: IPv4 header and TCP/UDP checksum offload. RX: with checking on, the
NIC reports each frame's checksums as checked, and as wrong exactly where the sender broke
them (the frame still arrives); with it off it reports nothing checked. TX: frames handed
over with the checksums left for the NIC (IPv4 header checksum 0, the pseudo-header sum in
the L4 field, as a stack does) arrive with both correct, recomputed by the receiver in C;
the same frames sent without the offload arrive wrong, so the check can tell.
"""
from __future__ import annotations

import pytest

from fixtures.packets import exchange, specs
from fixtures.traffic import settle

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

N = 3
L4 = ("udp", "tcp")
# what the sender breaks -> (IP checksum wrong, L4 checksum wrong)
CASES = {"good": (False, False), "bad_ip": (True, False), "bad_l4": (False, True)}


def _received(feature, pair, seq, l4, csum, why):
    got = exchange(pair.peer, pair.port, specs(pair.port.info["mac"], seq, N, l4=l4, csum=csum))
    feature.expect(len(got) == N, f"{why}: {len(got)} of {N} {l4} frames with {csum} checksums arrived")
    return got


@pytest.mark.nic_feature("checksum", needs=("pmd", "peer"))
def test_rx_checksum_status(feature, pair):
    pair.port.call("pmd_set_rx_csum", ip=True, l4=True)
    settle(pair.peer, pair.port)
    seq = 10000
    for l4 in L4:
        for csum, (ip_bad, l4_bad) in CASES.items():
            seq += 100
            for f in _received(feature, pair, seq, l4, csum, "checking on"):
                what = f"checking on, {l4} frame {f['pkt']['seq']} with {csum} checksums"
                feature.expect(f["ip_checked"] and bool(f["ip_error"]) == ip_bad,
                               f"{what}: IP checksum checked {bool(f['ip_checked'])}, error "
                               f"{bool(f['ip_error'])} (want checked, error {ip_bad})")
                if not ip_bad:   # a NIC may skip L4 of a frame whose IP header is wrong
                    feature.expect(f["l4_checked"] and bool(f["l4_error"]) == l4_bad,
                                   f"{what}: L4 checksum checked {bool(f['l4_checked'])}, error "
                                   f"{bool(f['l4_error'])} (want checked, error {l4_bad})")

    pair.port.call("pmd_set_rx_csum", ip=False, l4=False)
    settle(pair.peer, pair.port)
    for l4 in L4:
        seq += 100
        for f in _received(feature, pair, seq, l4, "bad_l4", "checking off"):
            feature.expect(not (f["ip_checked"] or f["ip_error"] or f["l4_checked"] or f["l4_error"]),
                           f"checking off: {l4} frame {f['pkt']['seq']} reports IP checked {bool(f['ip_checked'])} "
                           f"error {bool(f['ip_error'])}, L4 checked {bool(f['l4_checked'])} error "
                           f"{bool(f['l4_error'])}")


@pytest.mark.nic_feature("checksum", needs=("pmd", "peer"))
def test_tx_checksum_insertion(feature, pair):
    settle(pair.port, pair.peer)
    peer = pair.peer.info["mac"]
    seq = 20000
    for l4 in L4:
        seq += 100
        got = exchange(pair.port, pair.peer, specs(peer, seq, N, l4=l4, csum="nic"), ip_csum=True, l4_csum=True)
        feature.expect(len(got) == N, f"{l4}: {len(got)} of {N} frames sent with checksum insertion arrived")
        for f in got:
            p = f["pkt"]
            feature.expect(p["ip_csum_ok"] and p["l4_csum_ok"] and p["pattern_ok"],
                           f"{l4} frame {p['seq']} sent with checksum insertion: IP checksum ok {p['ip_csum_ok']}, "
                           f"{l4} checksum ok {p['l4_csum_ok']}, payload ok {p['pattern_ok']}")
        seq += 100
        got = exchange(pair.port, pair.peer, specs(peer, seq, N, l4=l4, csum="nic"))
        feature.expect(len(got) == N and not any(f["pkt"]["ip_csum_ok"] or f["pkt"]["l4_csum_ok"] for f in got),
                       f"{l4} without insertion: {len(got)} of {N} frames arrived; some with correct checksums "
                       f"the NIC was not asked for: the insertion check would not tell")
