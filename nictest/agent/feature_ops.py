"""Agent ops the feature suites use on an open PMD port: MAC configuration (max frame,
RX filter mode, unicast filter entries, multicast table) and one read of the
clear-on-read counters. Thin: each op is one call of nictest.pmd.Port on a port
the Ports service holds (pmd_open's port numbers)."""
from __future__ import annotations

from nictest.agent.ops import op
from nictest.agent.ports import ports

OptStr = (str, type(None))


@op("pmd_stats_read", port=int)
def pmd_stats_read(agent, port) -> dict:
    """What the counters counted since their previous read (they clear on read)."""
    return ports(agent).get(port).stats_read()


@op("pmd_set_max_frame", port=int, max_frame=int)
def pmd_set_max_frame(agent, port, max_frame) -> dict:
    return {"limit": ports(agent).get(port).set_max_frame(max_frame)}


@op("pmd_set_rx_mode", port=int, unicast_promisc=bool, multicast_promisc=bool, broadcast=bool)
def pmd_set_rx_mode(agent, port, unicast_promisc=False, multicast_promisc=False, broadcast=False) -> dict:
    ports(agent).get(port).set_rx_mode(unicast_promisc, multicast_promisc, broadcast)
    return {"unicast_promisc": unicast_promisc, "multicast_promisc": multicast_promisc, "broadcast": broadcast}


@op("pmd_set_mac_filter", port=int, index=int, mac=OptStr)
def pmd_set_mac_filter(agent, port, index, mac=None) -> dict:
    ports(agent).get(port).set_mac_filter(index, mac)
    return {"index": index, "mac": mac}


@op("pmd_set_mc_table", port=int, macs=list)
def pmd_set_mc_table(agent, port, macs) -> dict:
    if not all(isinstance(m, str) for m in macs):
        raise TypeError(f"macs: want a list of 'xx:xx:xx:xx:xx:xx' strings, got {macs!r}")
    ports(agent).get(port).set_mc_table(macs)
    return {"macs": list(macs)}
