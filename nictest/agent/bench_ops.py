"""Agent ops for `nictest bench`: the data-path measurements that need both ends on
the host at once (kernel stream, PMD -> kernel stream, both ping-pongs) and the
network namespace that keeps the kernel path's far end off the local stack.

The far netdev lives in its own netns for the kernel measurements; its socket is
opened by a helper thread that entered that netns (nictest.pmd.measure.in_netns),
while the agent's main thread stays in the root namespace.
"""
from __future__ import annotations

import logging
import subprocess
import threading
import time

from nictest.agent.net_ops import ip_json, netdev_name
from nictest.agent.ops import op
from nictest.agent.pmd_ops import _link_flags, _port
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.bench_ops")

RX_SETTLE_S = 0.3  # the capture thread opens its socket before the sender starts


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=15)
    if check and res.returncode != 0:
        raise StateError(f"ip {' '.join(argv)}: {res.stderr.strip()}")
    return res


def _netns_flags(netns: str, ifname: str) -> list:
    links = ip_json("-n", netns, "link", "show", "dev", ifname)
    return links[0].get("flags", []) if links else []


def _in_thread(fn, netns: str = ""):
    """Run fn() in a new thread (inside `netns` when given); returns (thread, job)."""
    from nictest.pmd import measure

    job: dict = {"result": None, "error": None}

    def run() -> None:
        try:
            if netns:
                with measure.in_netns(netns):
                    job["result"] = fn()
            else:
                job["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the caller
            job["error"] = exc

    thread = threading.Thread(target=run, name=f"bench-{netns or 'root'}", daemon=True)
    thread.start()
    return thread, job


def _join(thread, job, timeout_s: float):
    thread.join(timeout_s)
    if thread.is_alive():
        raise StateError(f"the capture thread is still running after {timeout_s:.0f} s")
    if job["error"] is not None:
        raise job["error"]
    return job["result"]


@op("bench_netns_up", ifname=str, netns=str, carrier_timeout_ms=int)
def bench_netns_up(agent, ifname, netns, carrier_timeout_ms=15000) -> dict:
    """Move `ifname` into a fresh netns, IPv6 off there (no stray frames), link up, wait for carrier."""
    netdev_name(ifname)
    was_up = "UP" in _link_flags(ifname)
    _ip("netns", "del", netns, check=False)  # a leftover of a killed run
    _ip("netns", "add", netns)
    _ip("link", "set", "dev", ifname, "netns", netns)

    def no_ipv6() -> None:  # /proc/sys/net is the opening thread's namespace
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("1")

    thread, job = _in_thread(no_ipv6, netns)
    _join(thread, job, 10)
    _ip("-n", netns, "link", "set", "dev", ifname, "up")
    started = time.monotonic()
    while "LOWER_UP" not in _netns_flags(netns, ifname):
        if time.monotonic() - started > carrier_timeout_ms / 1000:
            raise StateError(f"{ifname} in netns {netns}: no carrier after {carrier_timeout_ms} ms "
                             f"(is its cable to the other NIC up?)")
        time.sleep(0.1)
    return {"ifname": ifname, "netns": netns, "was_up": was_up,
            "carrier_seconds": round(time.monotonic() - started, 3)}


@op("bench_netns_down", ifname=str, netns=str, up=bool)
def bench_netns_down(agent, ifname, netns, up=False) -> dict:
    """Move `ifname` back to the root namespace (admin state `up`) and delete the netns."""
    _ip("-n", netns, "link", "set", "dev", ifname, "down", check=False)
    _ip("-n", netns, "link", "set", "dev", ifname, "netns", "1", check=False)
    _ip("netns", "del", netns, check=False)
    back = ifname in {link["ifname"] for link in ip_json("link", "show")}
    if back and up:
        _ip("link", "set", "dev", ifname, "up")
    if not back:
        raise StateError(f"{ifname} did not come back from netns {netns}: `ip -n {netns} link` shows "
                         f"where it is; move it with `ip -n {netns} link set dev {ifname} netns 1`")
    return {"ifname": ifname, "back": back}


def _stream_into(rx_if: str, netns: str, count: int, idle_ms: int, timeout_ms: int, send) -> dict:
    from nictest.pmd import measure

    thread, job = _in_thread(lambda: measure.kernel_rx_idle(rx_if, count, timeout_ms, idle_ms), netns)
    time.sleep(RX_SETTLE_S)
    try:
        tx = send()
    finally:
        rx = _join(thread, job, timeout_ms / 1000 + 10)
    return {"tx": tx, "rx": rx}


@op("bench_kernel_stream", tx_if=str, rx_if=str, netns=str, dst=str, count=int, size=int, idle_ms=int,
    timeout_ms=int)
def bench_kernel_stream(agent, tx_if, rx_if, netns, dst, count, size=64, idle_ms=500, timeout_ms=30000) -> dict:
    """AF_PACKET send on tx_if (root netns) -> AF_PACKET capture on rx_if (inside `netns`)."""
    from nictest import pmd

    return _stream_into(rx_if, netns, count, idle_ms, timeout_ms,
                        lambda: pmd.kernel_tx(tx_if, count, size, dst=dst, timeout_ms=5000))


@op("bench_pmd_to_kernel", port=int, rx_if=str, netns=str, dst=str, count=int, size=int, idle_ms=int,
    timeout_ms=int)
def bench_pmd_to_kernel(agent, port, rx_if, netns, dst, count, size=64, idle_ms=500, timeout_ms=30000) -> dict:
    """PMD send on `port` -> AF_PACKET capture on rx_if (inside `netns`)."""
    p = _port(port)
    return _stream_into(rx_if, netns, count, idle_ms, timeout_ms,
                        lambda: p.tx(count, size, dst=dst, timeout_ms=5000))


@op("bench_kernel_pingpong", if_a=str, if_b=str, netns=str, count=int, size=int, timeout_ms=int)
def bench_kernel_pingpong(agent, if_a, if_b, netns, count, size=64, timeout_ms=1000) -> dict:
    """Round trips if_a (root) -> if_b (inside `netns`) -> if_a through AF_PACKET; every RTT in rtt_ns."""
    from nictest.pmd import measure

    return measure.kernel_pingpong(if_a, if_b, netns, count, size, timeout_ms)


@op("bench_pmd_pingpong", port_a=int, port_b=int, count=int, size=int, timeout_ms=int)
def bench_pmd_pingpong(agent, port_a, port_b, count, size=64, timeout_ms=1000) -> dict:
    """PMD round trips a -> b -> a; every RTT in rtt_ns."""
    from nictest.pmd import measure

    return measure.pingpong_rtts(_port(port_a), _port(port_b), count, size, timeout_ms)
