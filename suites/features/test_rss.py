"""Feature `rss`: with several RX and TX queues (the profile's "queues", at most 4 used) and RSS over
IPv4, IPv4/TCP and IPv4/UDP, the hash the NIC reports for each frame is the Toeplitz hash of
its tuple under the programmed key (computed here, in software), each frame lands on the queue
the redirection table names for that hash, and a new key and table take effect.
Where the profile says rss.udp_ports false (a MAC with no UDP hash field) a UDP frame's hash
covers its addresses only and is reported as an IPv4 hash.
Every TX queue sends: frames queued on each reach the peer whole.
Frames: IPv4 UDP/TCP test frames with varied tuples, sent by the peer (and to it)."""
from __future__ import annotations

import pytest

from fixtures.rss import SPEC_KEY, flows, random_key, spread_table
from fixtures.traffic import settle
from fixtures.rss_checks import check_placement, queue_count, send_and_collect, set_rss, setup, udp_ports

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

FLOWS = 24


@pytest.mark.nic_feature("rss", needs=("pmd", "peer"))
def test_hash_and_queue_follow_key_and_table(feature, pair, nic_profile):
    n = queue_count(nic_profile)
    feature.expect(n > 1, f"the profile promises {n} RX queue(s): RSS needs several")
    dst = pair.port.info["mac"]
    key, reta, udp = SPEC_KEY, spread_table(n), udp_ports(nic_profile)
    setup(pair, n, key, reta, udp)
    batch = flows(FLOWS, dst, seed=1, seq_start=1000)
    got = send_and_collect(pair, batch)
    check_placement(feature, batch, got, key, reta, "first key and table", udp=udp)
    used = {f["queue"] for f in got.values()}
    feature.expect(len(used) > 1, f"{FLOWS} flows all landed on queue(s) {sorted(used)}")

    key2, reta2 = random_key(7), spread_table(n, shift=1)[::-1]
    set_rss(pair, key2, reta2, udp)
    batch2 = flows(FLOWS, dst, seed=2, seq_start=2000)
    got2 = send_and_collect(pair, batch2)
    check_placement(feature, batch2, got2, key2, reta2, "after the new key and table", udp=udp)
    # the first flows again: the new key and table decide now, not the old ones
    again = [dict(f, seq=f["seq"] + 5000) for f in batch]
    check_placement(feature, again, send_and_collect(pair, again), key2, reta2, "old flows, new key and table",
                    udp=udp)


@pytest.mark.nic_feature("rss", needs=("pmd", "peer"))
def test_every_tx_queue_sends(feature, pair, nic_profile):
    n = queue_count(nic_profile)
    feature.expect(n > 1, f"the profile promises {n} TX queue(s): several are needed")
    pair.port.call("pmd_setup_queues", rx_queues=n, tx_queues=n)
    pair.peer.call("pmd_setup_queues", rx_queues=1, tx_queues=1)   # the peer collects on its one queue
    settle(pair.port, pair.peer)
    for q in range(n):
        batch = flows(8, pair.peer.info["mac"], seed=40 + q, seq_start=6000 + 100 * q)
        got = send_and_collect(pair, batch, reverse=True, tx_queue=q)
        missing = sorted({f["seq"] for f in batch} - set(got))
        feature.expect(not missing, f"TX queue {q} of {pair.port.address}: {len(missing)} of {len(batch)} frames "
                                    f"did not reach {pair.peer.address} (seq {missing})")
        short = [s for s, f in got.items() if f["len"] != next(b["size"] for b in batch if b["seq"] == s)]
        feature.expect(not short, f"TX queue {q}: frames {short} arrived with another length than sent")
