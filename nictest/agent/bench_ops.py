"""Agent ops for `nictest bench`: the data-path measurements that need both ends on
the host at once (kernel stream, PMD -> kernel stream, both ping-pongs) and the
network namespace that keeps the kernel path's far end off the local stack.

The far netdev lives in its own netns for the kernel measurements; its socket is
opened by a helper thread that entered that netns (nictest.pmd.measure.in_netns),
while the agent's main thread stays in the root namespace.
"""
from __future__ import annotations

import logging
import time

from nictest.agent.jobs import result, spawn
from nictest.agent.net_ops import ip, link_flags, netdev_name
from nictest.agent.netns import namespaces
from nictest.agent.ops import op
from nictest.agent.ports import ports
from nictest.errors import StateError

log = logging.getLogger("nictest.agent.bench_ops")

RX_SETTLE_S = 0.3  # the capture thread opens its socket before the sender starts


def _in_netns(fn, netns: str):
    """A job running fn() on a thread of its own inside `netns` ("": the root one), so the
    agent's main thread stays in the root namespace; a Future."""
    from nictest.pmd import measure

    if not netns:
        return spawn(fn, "bench-root")

    def run():
        with measure.in_netns(netns):
            return fn()

    return spawn(run, f"bench-{netns}")


def _join(job, timeout_s: float):
    return result(job, timeout_s, f"the capture thread is still running after {timeout_s:.0f} s")


@op("bench_netns_up", ifname=str, netns=str, carrier_timeout_ms=int)
def bench_netns_up(agent, ifname, netns, carrier_timeout_ms=15000) -> dict:
    """Move `ifname` into a fresh netns, IPv6 off there (no stray frames), link up, wait for carrier."""
    netdev_name(ifname)
    was_up = namespaces(agent).move_in(ifname, netns)

    def no_ipv6() -> None:  # /proc/sys/net is the opening thread's namespace
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("1")

    _join(_in_netns(no_ipv6, netns), 10)
    ip("-n", netns, "link", "set", "dev", ifname, "up")
    started = time.monotonic()
    while "LOWER_UP" not in link_flags(ifname, netns):
        if time.monotonic() - started > carrier_timeout_ms / 1000:
            raise StateError(f"{ifname} in netns {netns}: no carrier after {carrier_timeout_ms} ms "
                             f"(is its cable to the other NIC up?)")
        time.sleep(0.1)
    return {"ifname": ifname, "netns": netns, "was_up": was_up,
            "carrier_seconds": round(time.monotonic() - started, 3)}


@op("bench_netns_down", ifname=str, netns=str, up=bool)
def bench_netns_down(agent, ifname, netns, up=False) -> dict:
    """Move `ifname` back to the root namespace (admin state `up`) and delete the netns."""
    back = namespaces(agent).move_out(ifname, netns, up)
    if not back:
        raise StateError(f"{ifname} did not come back from netns {netns}: `ip -n {netns} link` shows "
                         f"where it is; move it with `ip -n {netns} link set dev {ifname} netns 1`")
    return {"ifname": ifname, "back": back}


def _stream_into(rx_if: str, netns: str, count: int, idle_ms: int, timeout_ms: int, send) -> dict:
    from nictest.pmd import measure

    job = _in_netns(lambda: measure.kernel_rx_idle(rx_if, count, timeout_ms, idle_ms), netns)
    time.sleep(RX_SETTLE_S)
    try:
        tx = send()
    finally:
        rx = _join(job, timeout_ms / 1000 + 10)
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
    p = ports(agent).get(port)
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

    return measure.pingpong_rtts(ports(agent).get(port_a), ports(agent).get(port_b), count, size, timeout_ms)
