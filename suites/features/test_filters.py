"""Feature `filters`: with promiscuous modes off, the MAC takes exactly the frames its
filters name: its own address, the unicast filter entries beyond it (the profile's
filters.unicast_entries, the primary included), the multicast table, broadcast when
accepted; promiscuous on takes the rest again. Each with frames that must and must not
arrive (see fixtures/traffic.py for how an absence is checked).
"""
from __future__ import annotations

import pytest

from fixtures.traffic import arrived, dropped, settle

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

N = 4
SIZE = 64
# Locally administered unicast addresses no NIC of the lab owns.
EXTRA_A, EXTRA_B, STRANGER = "02:00:00:fe:00:0a", "02:00:00:fe:00:0b", "02:00:00:fe:00:0c"
# Multicast addresses whose table bits differ (the hash is address bits 47:36: 0x010, 0x020).
GROUP, OTHER_GROUP = "01:00:5e:00:00:01", "01:00:5e:00:07:02"
BROADCAST = "ff:ff:ff:ff:ff:ff"


class Checks:
    """Frames from the peer to the NIC under test; configure() changes the receiver, then settles."""

    def __init__(self, feature, pair) -> None:
        self.feature, self.tx, self.rx, self.seq = feature, pair.peer, pair.port, 0

    def _next(self) -> int:
        self.seq += N + 1
        return self.seq

    def arrive(self, dst: str, why: str) -> None:
        got = arrived(self.tx, self.rx, dst, N, SIZE, self._next())
        self.feature.expect(got["all"], f"{why}: {got['packets']} of {N} frames to {dst} arrived")

    def drop(self, dst: str, why: str) -> None:
        got = dropped(self.tx, self.rx, dst, N, SIZE, self._next())
        self.feature.expect(got["marker"], f"{why}: the marker frame to the port's own address did not arrive")
        self.feature.expect(got["leaked"] == 0, f"{why}: {got['leaked']} of {N} frames to {dst} arrived")

    def configure(self, *calls) -> None:
        for op, args in calls:
            self.rx.call(op, **args)
        settle(self.tx, self.rx)


def _mode(unicast=False, multicast=False, broadcast=False):
    return "pmd_set_rx_mode", {"unicast_promisc": unicast, "multicast_promisc": multicast, "broadcast": broadcast}


@pytest.mark.nic_feature("filters", needs=("pmd", "peer"))
def test_filter_entries_multicast_table_broadcast_and_promiscuous(feature, pair):
    entries = feature.params["unicast_entries"]
    last = entries - 1
    c = Checks(feature, pair)
    c.configure(("pmd_set_mc_table", {"macs": [GROUP]}), ("pmd_set_mac_filter", {"index": 1, "mac": EXTRA_A}),
                ("pmd_set_mac_filter", {"index": last, "mac": EXTRA_B}), _mode())
    c.arrive(pair.port.info["mac"], "promiscuous off: the port's own address")
    c.arrive(EXTRA_A, "unicast filter entry 1")
    c.arrive(EXTRA_B, f"unicast filter entry {last} (the last of {entries})")
    c.drop(STRANGER, "promiscuous off: an address in no filter entry")
    c.arrive(GROUP, "a multicast address in the multicast table")
    c.drop(OTHER_GROUP, "promiscuous off: a multicast address whose table bit is clear")
    c.drop(BROADCAST, "broadcast not accepted")

    c.configure(("pmd_set_mac_filter", {"index": 1, "mac": None}), _mode(broadcast=True))
    c.drop(EXTRA_A, "unicast filter entry 1 cleared")
    c.arrive(EXTRA_B, f"unicast filter entry {last} after clearing entry 1")
    c.arrive(BROADCAST, "broadcast accepted")

    c.configure(_mode(unicast=True, multicast=True, broadcast=True))
    c.arrive(STRANGER, "unicast promiscuous on")
    c.arrive(OTHER_GROUP, "multicast promiscuous on")
    c.configure(_mode(multicast=True, broadcast=True))
    c.drop(STRANGER, "unicast promiscuous off again")
    c.arrive(OTHER_GROUP, "multicast promiscuous still on")
    c.configure(_mode(broadcast=True))
    c.drop(OTHER_GROUP, "multicast promiscuous off again")
