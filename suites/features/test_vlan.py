"""Feature `vlan`: 802.1Q tags handled by the NIC. TX: the NIC inserts the tag a descriptor
asks for, and the peer (stripping off) finds it in the frame. RX: with stripping on the tag
leaves the frame and is reported in the descriptor; with it off the frame keeps it. The VLAN
filter: with it on, tagged frames of a VLAN not in the table are dropped, a configured one
arrives (untagged frames are not filtered); off, every VLAN arrives again. Frames are IPv4
UDP/TCP built and checked in C (fixtures/packets.py): pattern, length and checksums intact.
"""
from __future__ import annotations

import pytest

from fixtures.packets import dropped, exchange, specs
from fixtures.traffic import settle

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

N = 4
VID, OTHER_VID = 100, 200
TCI = 5 << 13 | VID          # priority 5: the whole tag control word must travel, not only the VID


def _intact(feature, frames, why: str) -> None:
    for f in frames:
        p = f["pkt"]
        feature.expect(p["pattern_ok"] and p["ip_csum_ok"] and p["l4_csum_ok"],
                       f"{why}: frame {p['seq']} arrived damaged (pattern {p['pattern_ok']}, IP checksum "
                       f"{p['ip_csum_ok']}, L4 checksum {p['l4_csum_ok']})")


def _vlan(port, strip=False, filter=False, vids=()):
    port.call("pmd_set_vlan", strip=strip, filter=filter, vids=list(vids))


@pytest.mark.nic_feature("vlan", needs=("pmd", "peer"))
def test_tx_tag_insertion(feature, pair):
    # VLAN mode on at the sender: some MACs (the 8254x's CTRL.VME) insert tags only with it,
    # which also turns on their RX stripping; the peer keeps tags in the frame.
    _vlan(pair.port, strip=True)
    _vlan(pair.peer)
    settle(pair.port, pair.peer)
    for i, l4 in enumerate(("udp", "tcp")):
        frames = specs(pair.peer.info["mac"], 1000 + 100 * i, N, l4=l4)
        got = exchange(pair.port, pair.peer, frames, vlan_insert=TCI)
        feature.expect(len(got) == N, f"{l4}: {len(got)} of {N} frames sent with tag insertion arrived")
        for f in got:
            p = f["pkt"]
            feature.expect(p["vlan_tagged"] and p["vlan_tci"] == TCI,
                           f"{l4}: frame {p['seq']} arrived with tag {p['vlan_tagged']} TCI 0x{p['vlan_tci']:04x}, "
                           f"want the inserted 0x{TCI:04x}")
        _intact(feature, got, f"{l4} with an inserted tag")
    got = exchange(pair.port, pair.peer, specs(pair.peer.info["mac"], 1300, N))
    feature.expect(len(got) == N and not any(f["pkt"]["vlan_tagged"] for f in got),
                   f"without insertion: {len(got)} of {N} frames arrived, tagged: "
                   f"{[f['pkt']['vlan_tagged'] for f in got]} (want untagged)")


@pytest.mark.nic_feature("vlan", needs=("pmd", "peer"))
def test_rx_tag_stripping(feature, pair):
    dut = pair.port.info["mac"]
    _vlan(pair.port, strip=True)
    settle(pair.peer, pair.port)
    got = exchange(pair.peer, pair.port, specs(dut, 2000, N, vlan=TCI))
    feature.expect(len(got) == N, f"stripping on: {len(got)} of {N} tagged frames arrived")
    for f in got:
        feature.expect(f["vlan_stripped"] and f["vlan_tci"] == TCI and not f["pkt"]["vlan_tagged"],
                       f"stripping on: frame {f['pkt']['seq']}: descriptor says stripped {bool(f['vlan_stripped'])} "
                       f"TCI 0x{f['vlan_tci']:04x} (want 0x{TCI:04x}), tag still in the frame: "
                       f"{f['pkt']['vlan_tagged']}")
    _intact(feature, got, "stripping on")

    _vlan(pair.port, strip=False)
    settle(pair.peer, pair.port)
    got = exchange(pair.peer, pair.port, specs(dut, 2100, N, vlan=TCI))
    feature.expect(len(got) == N, f"stripping off: {len(got)} of {N} tagged frames arrived")
    for f in got:
        feature.expect(not f["vlan_stripped"] and f["pkt"]["vlan_tagged"] and f["pkt"]["vlan_tci"] == TCI,
                       f"stripping off: frame {f['pkt']['seq']}: descriptor says stripped {bool(f['vlan_stripped'])}, "
                       f"tag in the frame {f['pkt']['vlan_tagged']} TCI 0x{f['pkt']['vlan_tci']:04x}")
    _intact(feature, got, "stripping off")


@pytest.mark.nic_feature("vlan", needs=("pmd", "peer"))
def test_vlan_filter_table(feature, pair):
    dut = pair.port.info["mac"]
    _vlan(pair.port, strip=True, filter=True, vids=[VID])
    settle(pair.peer, pair.port)
    r = dropped(pair.peer, pair.port, specs(dut, 3000, N, vlan=OTHER_VID), specs(dut, 3100, 1, vlan=VID)[0])
    feature.expect(r["marker"], f"filter on: the frame on configured VLAN {VID} (the marker) did not arrive")
    feature.expect(r["leaked"] == 0, f"filter on: {r['leaked']} of {N} frames on unconfigured VLAN {OTHER_VID} arrived")
    got = exchange(pair.peer, pair.port, specs(dut, 3200, N, vlan=VID))
    feature.expect(len(got) == N and all(f["vlan_stripped"] and f["vlan_tci"] == VID for f in got),
                   f"filter on: {len(got)} of {N} frames on configured VLAN {VID} arrived with their tag reported")
    got = exchange(pair.peer, pair.port, specs(dut, 3300, N))
    feature.expect(len(got) == N, f"filter on: {len(got)} of {N} untagged frames arrived (only tags are filtered)")

    _vlan(pair.port, strip=True, filter=False)
    settle(pair.peer, pair.port)
    got = exchange(pair.peer, pair.port, specs(dut, 3400, N, vlan=OTHER_VID))
    feature.expect(len(got) == N, f"filter off: {len(got)} of {N} frames on VLAN {OTHER_VID} arrived")
    _intact(feature, got, "filter off")
