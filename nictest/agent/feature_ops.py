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


# --- several queues, RSS, queue control (features rss, queue_control) -------------------

@op("pmd_setup_queues", port=int, rx_queues=int, tx_queues=int)
def pmd_setup_queues(agent, port, rx_queues, tx_queues) -> dict:
    p = ports(agent).get(port)
    p.setup_queues(rx_queues, tx_queues)
    return p.queue_count()


@op("pmd_set_rss", port=int, fields=list, key=str, reta=list)
def pmd_set_rss(agent, port, fields, key="", reta=()) -> dict:
    """RSS over fields ("ipv4", "ipv4_tcp", "ipv4_udp"; [] off), key as 80 hex digits."""
    ports(agent).get(port).set_rss(list(fields), bytes.fromhex(key), [int(q) for q in reta])
    return {"fields": list(fields)}


@op("pmd_rx_queue_enable", port=int, queue=int, on=bool)
def pmd_rx_queue_enable(agent, port, queue, on) -> dict:
    ports(agent).get(port).rx_queue_enable(queue, on)
    return {"queue": queue, "on": on}


@op("pmd_port_stop", port=int)
def pmd_port_stop(agent, port) -> dict:
    ports(agent).get(port).stop()
    return {}


@op("pmd_port_start", port=int)
def pmd_port_start(agent, port) -> dict:
    ports(agent).get(port).start()
    return {}


@op("pmd_rx_frames", port=int, count=int, timeout_ms=int, idle_ms=int)
def pmd_rx_frames(agent, port, count, timeout_ms=1000, idle_ms=0) -> dict:
    """Frames from every RX queue, each {queue, len, hash, hash_type, errors, pkt (parsed)}."""
    from nictest.pmd.port import parse_packet

    frames = ports(agent).get(port).rx_frames(count, timeout_ms, idle_ms)
    for f in frames:
        f["pkt"] = parse_packet(f["data"])
        f["data"] = f["data"].hex()
    return {"frames": frames}


@op("pmd_tx_flows", port=int, specs=list, queue=int, timeout_ms=int)
def pmd_tx_flows(agent, port, specs, queue=0, timeout_ms=2000) -> dict:
    """One IPv4 UDP/TCP test frame per spec (nictest.pmd.port.packet_spec keys; src: the
    port's MAC) built by the C frame builder, sent on TX queue `queue`."""
    from nictest.pmd.port import build_packet

    p = ports(agent).get(port)
    mac = p.info()["mac"]
    frames = [build_packet(dict(s, src=s.get("src") or mac)) for s in specs]
    p.tx_frames(frames, queue, timeout_ms)
    return {"sent": len(frames)}
