"""The pure helpers behind the PMD fixtures and CLI: who is cabled to whom, and
"every sequence number arrived once" from the C loop's sum and sum of squares."""
from __future__ import annotations

from types import SimpleNamespace

from fixtures.pmd import all_arrived, peer_of


def test_peer_of_reads_links_both_ways():
    spec = SimpleNamespace(links=(("0000:00:03.0", "0000:00:04.0"),))
    assert peer_of(spec, "0000:00:03.0") == "0000:00:04.0"
    assert peer_of(spec, "0000:00:04.0") == "0000:00:03.0"
    assert peer_of(spec, "0000:00:05.0") is None
    assert peer_of(SimpleNamespace(links=()), "0000:00:03.0") is None


def _rx(seqs):
    m = 1 << 64
    return {"packets": len(seqs), "seq_sum": sum(seqs) % m, "seq_sqsum": sum(s * s for s in seqs) % m}


def test_all_arrived_accepts_any_order_and_rejects_loss_or_duplicates():
    assert all_arrived(_rx([2, 0, 1, 4, 3]), 5)
    assert all_arrived(_rx([12, 10, 11]), 3, seq_start=10)
    assert not all_arrived(_rx([0, 1, 2, 3]), 5)            # one lost
    assert not all_arrived(_rx([0, 1, 1, 3, 4]), 5)         # 2 lost, 1 twice
    assert not all_arrived(_rx([0, 0, 3, 3, 4]), 5)         # 1,2 lost, 0 and 3 twice (sum alone would pass)
