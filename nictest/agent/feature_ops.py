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


# --- VLAN and checksum offloads: IPv4 UDP/TCP test frames (nictest.pmd.port.packet_spec) ---
@op("pmd_tx_packets", port=int, specs=list, vlan_insert=(int, type(None)), ip_csum=bool, l4_csum=bool,
    timeout_ms=int)
def pmd_tx_packets(agent, port, specs, vlan_insert=None, ip_csum=False, l4_csum=False, timeout_ms=2000) -> dict:
    """Send one IPv4 test frame per spec dict, the NIC inserting a tag / checksums as asked."""
    if not all(isinstance(s, dict) for s in specs):
        raise TypeError(f"specs: want a list of packet spec dicts, got {specs!r}")
    sent = ports(agent).get(port).tx_packets(specs, vlan_insert=vlan_insert, ip_csum=ip_csum, l4_csum=l4_csum,
                                             timeout_ms=timeout_ms)
    return {"packets": sent}


@op("pmd_rx_packets", port=int, max_count=int, timeout_ms=int, stop_seq=(int, type(None)))
def pmd_rx_packets(agent, port, max_count, timeout_ms=1000, stop_seq=None) -> dict:
    """Our IPv4 test frames with their RX descriptor metadata (Port.rx_packets)."""
    return {"frames": ports(agent).get(port).rx_packets(max_count, timeout_ms=timeout_ms, stop_seq=stop_seq)}


@op("pmd_set_vlan", port=int, strip=bool, filter=bool, vids=list)
def pmd_set_vlan(agent, port, strip=False, filter=False, vids=()) -> dict:
    if not all(isinstance(v, int) for v in vids):
        raise TypeError(f"vids: want a list of VLAN IDs, got {vids!r}")
    ports(agent).get(port).set_vlan(strip=strip, filter=filter, vids=list(vids))
    return {"strip": strip, "filter": filter, "vids": list(vids)}


@op("pmd_set_rx_csum", port=int, ip=bool, l4=bool)
def pmd_set_rx_csum(agent, port, ip=False, l4=False) -> dict:
    ports(agent).get(port).set_rx_csum(ip=ip, l4=l4)
    return {"ip": ip, "l4": l4}


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
