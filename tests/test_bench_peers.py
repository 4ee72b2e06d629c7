"""`nictest bench --peers`: testpmd's output read right (and refused when it did not run
through), DPDK missing named with the fix, and the ratios against nictest's figures."""
from __future__ import annotations

import pytest

from nictest.bench import peers, table
from nictest.errors import PrerequisiteMissing, StateError

# What the rx testpmd prints for two `show port stats all` (trimmed from a lab-bench run).
SHOW = """  ######################## NIC statistics for port 0  ########################
  RX-packets: {n}     RX-missed: 0          RX-bytes:  56946396
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:       {pps}          Rx-bps:    106246344
  Tx-pps:            0          Tx-bps:            0
  ############################################################################"""


def output(first=837447, second=1837603, pps=195305, tx_rc=0, rx_rc=0) -> str:
    rx = SHOW.format(n=first, pps=0) + "\n" + SHOW.format(n=second, pps=pps)
    return (f"TX_RC {tx_rc}\nRX_RC {rx_rc}\n" + "\n".join("RX| " + line for line in rx.splitlines())
            + "\nTX| Bye...\n")


def test_parse_testpmd_takes_the_second_shows_rate_and_the_window_count():
    assert peers.parse_testpmd(output()) == {"rx_pps": 195305, "rx_packets_window": 1000156}


@pytest.mark.parametrize("kw, says", [({"tx_rc": 124}, "tx rc 124"), ({"rx_rc": 1}, "rx rc 1"),
                                      ({"first": 0}, "started late")])
def test_parse_testpmd_refuses_a_run_that_did_not_go_through(kw, says):
    with pytest.raises(StateError, match=says):
        peers.parse_testpmd(output(**kw))


def test_a_host_without_dpdk_is_told_what_to_install(monkeypatch):
    monkeypatch.setattr(peers.shell, "run", lambda host, script, timeout=120: "MISSING dpdk-testpmd\n")
    with pytest.raises(PrerequisiteMissing, match=r"rack1 has no dpdk-testpmd: .*apt-get install dpdk dpdk-dev"):
        peers.require_dpdk(object(), "rack1")
    monkeypatch.setattr(peers.shell, "run", lambda host, script, timeout=120: "")
    peers.require_dpdk(object(), "rack1")  # both tools there: no error


def summary(median):
    return {"n": 3, "median": median, "min": median * 0.9, "max": median * 1.1, "q1": median, "q3": median}


def test_ratios_and_table_put_nictest_beside_its_peers():
    data = {"datapath": {"ok": True, "pps": {"pmd": {"64": {"rx_pps": summary(150000.0)},
                                                     "1514": {"rx_pps": summary(160000.0)}},
                                             "pmd_rate": {"64": {"rx_pps": summary(220000.0)}},
                                             "pmd_rate_threads": {"64": {"rx_pps": summary(240000.0)}}}},
            "lifecycle": {"ok": True, "nictest_bind_s": summary(0.2), "nictest_restore_s": summary(0.45)},
            "peers": {"ok": True, "driver": "vfio-pci", "reps": 3,
                      "testpmd": {"mode": "txonly on the NIC, rxonly on its peer, one process each", "window_s": 6,
                                  "pps": {"64": {"rx_pps": summary(200000.0)}, "1514": {"rx_pps": summary(160000.0)}}},
                      "devbind": {"bind_s": summary(4.0), "restore_s": summary(4.5)}}}
    r = peers.ratios(data)
    assert r == pytest.approx({"pmd_over_testpmd_64": 0.75, "pmd_over_testpmd_1514": 1.0,
                               "pmd_rate_over_testpmd_64": 1.1, "pmd_rate_threads_over_testpmd_64": 1.2,
                               "bind_nictest_over_devbind": 0.05, "restore_nictest_over_devbind": 0.1})
    data["peers"]["ratios"] = r
    lines = table._peers(data)
    text = "\n".join(lines)
    assert ("| 64 B received pps, PMD→PMD (payload checked) vs testpmd | 150.0k (135.0k–165.0k) | "
            "200.0k (180.0k–220.0k) | 0.8x") in text
    assert "| 64 B received pps, PMD→PMD rate mode (sequence only) vs testpmd | 220.0k" in text
    assert "1514 B received pps, PMD→PMD rate mode" not in text  # no rate figure at that size: no row
    assert ("| 64 B received pps, PMD→PMD, TX and RX threads, rate mode vs testpmd | 240.0k (216.0k–264.0k) | "
            "200.0k (180.0k–220.0k) | 1.2x | ≥ 1.0x |") in text
    assert any(line.startswith("| bind one NIC vs dpdk-devbind.py | 200.0 ms") for line in lines)
    assert table._peers({"peers": {"ok": False, "error": "PrerequisiteMissing: lab1 has no dpdk-testpmd"}})[1] \
        .startswith("Peers (DPDK): ")
    assert table._peers({}) == []


def io_output(first=(1000, 1000), second=(301000, 299000), pps=(60000, 59000), rc=0) -> str:
    shows = [SHOW.format(n=n, pps=0).replace("port 0", f"port {i}") for i, n in enumerate(first)]
    shows += [SHOW.format(n=n, pps=p).replace("port 0", f"port {i}") for i, (n, p) in enumerate(zip(second, pps))]
    return f"IO_RC {rc}\n" + "\n".join("IO| " + line for line in "\n".join(shows).splitlines()) + "\nIO| Bye...\n"


def test_parse_testpmd_io_adds_both_ports_of_the_second_show():
    assert peers.parse_testpmd_io(io_output()) == {"rx_pps": 119000, "rx_packets_window": 598000}


@pytest.mark.parametrize("kw, says", [({"rc": 124}, "rc 124"), ({"second": (1000, 1000)}, "forwarded nothing"),
                                      ({"second": (0, 5000)}, "forwarded nothing")])
def test_parse_testpmd_io_refuses_a_run_that_forwarded_nothing(kw, says):
    with pytest.raises(StateError, match=says):
        peers.parse_testpmd_io(io_output(**kw))
    with pytest.raises(StateError, match="want 4"):
        peers.parse_testpmd_io(io_output().split("IO| Bye")[0].rsplit("NIC statistics", 1)[0])


def test_io_forwarding_sits_beside_testpmd_io():
    data = {"datapath": {"ok": True, "pps": {}, "forward": {"64": {"pps": summary(90000.0), "window": 32}}},
            "peers": {"ok": True, "driver": "vfio-pci", "reps": 3,
                      "testpmd": {"mode": "txonly/rxonly", "window_s": 6, "pps": {}},
                      "testpmd_io": {"mode": "io", "window_s": 6, "pps": {"64": {"rx_pps": summary(120000.0)},
                                                                          "1514": {"rx_pps": summary(80000.0)}}},
                      "devbind": {"bind_s": summary(4.0), "restore_s": summary(4.5)}}}
    r = peers.ratios(data)
    assert r == pytest.approx({"forward_over_testpmd_io_64": 0.75})  # no nictest figure at 1514: no ratio
    data["peers"]["ratios"] = r
    text = "\n".join(table._peers(data))
    assert ("| 64 B io forwarding pps (both directions, 32 frames primed per port) vs testpmd io | "
            "90.0k (81.0k–99.0k) | 120.0k (108.0k–132.0k) | 0.8x | ≥ 1.0x |") in text
    assert "| 1514 B io forwarding pps (both directions) vs testpmd io | – | 80.0k" in text


def test_the_peer_group_restores_every_nic_it_bound_even_when_one_restore_fails():
    from contextlib import ExitStack

    from nictest.errors import UdevTimeout

    class Host:
        def __init__(self):
            self.restored = []

        def call(self, op, address, **_):
            if op == "bind":
                return {}
            assert op == "restore"
            self.restored.append(address)
            if address == "0000:00:04.0":   # the first one restored (the last bound)
                raise UdevTimeout("0000:00:04.0: its netdev did not come back")
            return {}

    host = Host()
    with pytest.raises(UdevTimeout, match="did not come back"):
        with ExitStack() as undo:
            peers._bind_all(host, undo, ["0000:00:03.0", "0000:00:04.0"], "vfio-pci", False)
    assert host.restored == ["0000:00:04.0", "0000:00:03.0"]
