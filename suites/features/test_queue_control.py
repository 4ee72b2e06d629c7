"""Feature `queue_control`: a stopped RX queue takes no frames while the other queues still
receive theirs, and takes its share again once restarted; a port stopped and started again
keeps its configuration (the RSS key and table, a unicast filter entry, promiscuous mode off).
Frames: IPv4 UDP/TCP test frames with varied tuples, sent by the peer; which queue each should
reach comes from the software Toeplitz hash and the programmed table."""
from __future__ import annotations

import pytest

from fixtures.pmd import wait_link
from fixtures.rss import SPEC_KEY, flow_hash, flows, queue_of, random_key, spread_table
from fixtures.traffic import settle
from fixtures.rss_checks import check_placement, queue_count, send_and_collect, setup, udp_ports

pytestmark = [pytest.mark.lab, pytest.mark.datapath, pytest.mark.destructive]

FLOWS = 24
EXTRA, STRANGER = "02:00:00:fe:00:1a", "02:00:00:fe:00:1c"


def _need_queues(feature, nic_profile) -> int:
    n = queue_count(nic_profile)
    feature.expect(n > 1, f"the profile promises {n} RX queue(s): queue control needs several")
    return n


@pytest.mark.nic_feature("queue_control", needs=("pmd", "peer"))
def test_stopped_rx_queue_receives_nothing_and_restarts(feature, pair, nic_profile):
    n = _need_queues(feature, nic_profile)
    key, reta = SPEC_KEY, spread_table(n)
    udp = udp_ports(nic_profile)
    setup(pair, n, key, reta, udp)
    dst = pair.port.info["mac"]
    batch = flows(FLOWS, dst, seed=11, seq_start=3000)
    stopped = 1
    on_stopped = [f for f in batch if queue_of(reta, flow_hash(key, f, udp)) == stopped]
    feature.expect(on_stopped and len(on_stopped) < len(batch), "internal: the flows must reach queue 1 and others")

    pair.port.call("pmd_rx_queue_enable", queue=stopped, on=False)
    got = send_and_collect(pair, batch)
    check_placement(feature, batch, got, key, reta, f"RX queue {stopped} stopped", expect_missing={stopped}, udp=udp)

    pair.port.call("pmd_rx_queue_enable", queue=stopped, on=True)
    settle(pair.peer, pair.port)
    again = [dict(f, seq=f["seq"] + 500) for f in batch]
    check_placement(feature, again, send_and_collect(pair, again), key, reta, f"RX queue {stopped} restarted", udp=udp)


@pytest.mark.nic_feature("queue_control", needs=("pmd", "peer"))
def test_port_stop_start_keeps_configuration(feature, pair, nic_profile):
    n = _need_queues(feature, nic_profile)
    key, reta = random_key(21), spread_table(n, shift=2)
    udp = udp_ports(nic_profile)
    setup(pair, n, key, reta, udp)
    pair.port.call("pmd_set_mac_filter", index=1, mac=EXTRA)
    pair.port.call("pmd_set_rx_mode", unicast_promisc=False, multicast_promisc=False, broadcast=False)
    settle(pair.peer, pair.port)

    pair.port.call("pmd_port_stop")
    pair.port.call("pmd_port_start")
    wait_link(pair.port)
    settle(pair.peer, pair.port)

    batch = flows(FLOWS, EXTRA, seed=31, seq_start=4000)
    check_placement(feature, batch, send_and_collect(pair, batch), key, reta,
                    "after stop/start, to the filter entry's address", udp=udp)
    strangers = flows(4, STRANGER, seed=32, seq_start=4500)
    leaked = send_and_collect(pair, strangers, timeout_ms=1500, idle_ms=300)
    feature.expect(not leaked, f"after stop/start, promiscuous mode off: {len(leaked)} of {len(strangers)} frames "
                               f"to an address in no filter entry arrived")
