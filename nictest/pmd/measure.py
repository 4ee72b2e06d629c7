"""The loops the benchmark needs beyond Port's: ping-pong with every round trip
kept (for median and p99), the kernel path's ping-pong, a kernel capture that
stops once the sender went quiet, and running a thread in a network namespace.

Runs on the host, inside the agent (standard library + cffi).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

from nictest.pmd.port import Port, _check, _module, _rx_dict, _struct_dict


def _pingpong_dict(ffi, res, rtts) -> dict:
    out = _struct_dict(ffi, res)
    out["avg_ns"] = out["total_ns"] // out["answered"] if out["answered"] else 0
    out["rtt_ns"] = [int(rtts[i]) for i in range(out["answered"])]
    return out


def pingpong_rtts(a: Port, b: Port, count: int, size: int = 64, timeout_ms: int = 1000) -> dict:
    """PMD ping-pong (a pings, b echoes); rtt_ns lists every answered round trip."""
    ffi, lib = a.ffi, a.lib
    res, rtts = ffi.new("struct pmd_pingpong_result *"), ffi.new("uint64_t[]", max(count, 1))
    with a._lock, b._lock:
        rc = lib.pmd_pingpong_rtts(a._h("pingpong"), b._h("pingpong"), count, size, timeout_ms, rtts, res)
        _check(lib, ffi, "pingpong", rc, f"{a.address} <-> {b.address}")
    return _pingpong_dict(ffi, res, rtts)


def forward(a: Port, b: Port, size: int = 64, window: int = 32, warm_ms: int = 1000, measure_ms: int = 3000,
            timeout_ms: int = 2000) -> dict:
    """io forwarding a <-> b (testpmd's io mode) with `window` frames primed per port; pps is
    frames forwarded per second over the measured window (both directions together)."""
    ffi, lib = a.ffi, a.lib
    res = ffi.new("struct pmd_forward_result *")
    with a._lock, b._lock:
        rc = lib.pmd_forward(a._h("forward"), b._h("forward"), size, window, warm_ms, measure_ms, timeout_ms, res)
        _check(lib, ffi, "forward", rc, f"{a.address} <-> {b.address}")
    out = _struct_dict(ffi, res)
    out["pps"] = out["forwarded"] * 1_000_000_000 // out["ns"] if out["ns"] else 0
    out["window"], out["size"] = window, size
    return out


def kernel_pingpong(if_a: str, if_b: str, netns_b: Optional[str], count: int, size: int = 64,
                    timeout_ms: int = 1000) -> dict:
    """AF_PACKET ping on if_a, pong from if_b opened inside netns_b; rtt_ns as pingpong_rtts."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    res, rtts = ffi.new("struct pmd_pingpong_result *"), ffi.new("uint64_t[]", max(count, 1))
    rc = lib.pmd_kernel_pingpong(if_a.encode(), if_b.encode(), (netns_b or "").encode(), count, size,
                                 timeout_ms, rtts, res)
    _check(lib, ffi, "kernel_pingpong", rc, f"{if_a} <-> {if_b}")
    return _pingpong_dict(ffi, res, rtts)


def kernel_rx_idle(ifname: str, count: int, timeout_ms: int, idle_ms: int, expect_seq: int = 0) -> dict:
    """AF_PACKET capture of `count` frames, stopping early once idle_ms pass without one."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    res = ffi.new("struct pmd_rx_result *")
    rc = lib.pmd_kernel_rx_idle_loop(ifname.encode(), count, expect_seq, timeout_ms, idle_ms, res)
    _check(lib, ffi, "kernel_rx", rc, ifname)
    return _rx_dict(_struct_dict(ffi, res))


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """The calling THREAD in network namespace `name` for the block (never the main thread:
    the agent's other ops must keep seeing the root namespace)."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    saved = ffi.new("int *")
    _check(lib, ffi, "netns_enter", lib.pmd_netns_enter(name.encode(), saved), name)
    try:
        yield
    finally:
        _check(lib, ffi, "netns_leave", lib.pmd_netns_leave(saved[0]), name)
