"""Group 1, the data path on one cabled NIC pair: kernel -> kernel, PMD -> PMD, PMD -> kernel
(packets per second), kernel / PMD ping-pong (round trips) and PMD io forwarding between
the pair (testpmd's io mode: frames forwarded per second), per frame size.

The kernel path's far end sits in its own network namespace, so frames really cross the
wire. Order keeps each NIC where it must be: both on the kernel driver (kernel stream and
ping-pong); the near NIC bound (PMD -> kernel); the far NIC back from the netns and bound
too (PMD -> PMD, PMD ping-pong); then both restored. pps is what the receiver got, first
to last frame; loss is reported beside it.
"""
from __future__ import annotations

from contextlib import ExitStack

from nictest.bench import stats
from nictest.errors import StateError

NETNS = "nictest-bench"
PATHS = ("kernel", "pmd", "mixed")          # kernel->kernel, PMD->PMD, PMD tx -> kernel rx
PMD_RATE = "pmd_rate"  # PMD->PMD in rate mode: sequence numbers checked, no payload pattern
# The PMD->PMD streams: (key in pps, check mode, threads, name in the peers table, column in the
# data path table). threads 2: TX and RX each on a C thread of its own, as testpmd runs one
# lcore per port.
PMD_STREAMS = (("pmd", "payload", 1, "PMD→PMD (payload checked)", "PMD→PMD"),
               (PMD_RATE, "sequence", 1, "PMD→PMD rate mode (sequence only)", "PMD→PMD rate mode"),
               ("pmd_rate_threads", "sequence", 2, "PMD→PMD, TX and RX threads, rate mode",
                "PMD→PMD TX/RX threads rate mode"))
LATENCY_PATHS = ("kernel", "pmd")
# io forwarding between the pair, as testpmd's io mode after `start tx_first`: one burst of
# 32 frames primed per port; figures over FWD_MEASURE_MS after FWD_WARM_MS.
FWD_WINDOW, FWD_WARM_MS, FWD_MEASURE_MS = 32, 1000, 3000


def _devices(host) -> dict:
    return {d["address"]: d for d in host.call("status")["devices"]}


def _stream_figures(runs: list, sent: int, lossy: bool = False) -> dict:
    """lossy: the sender does not wait for the receiver (TX and RX threads), so a repetition
    may deliver almost nothing on a host whose receiver lags: recorded as it is."""
    rx_pps = [r["rx"]["pps"] for r in runs]
    if not lossy and not all(rx_pps):
        raise StateError(f"a stream repetition delivered fewer than 2 frames: {[r['rx']['packets'] for r in runs]}")
    out = {"rx_pps": stats.summary(rx_pps), "tx_pps": stats.summary([r["tx"]["pps"] for r in runs]),
           "loss": stats.summary([1 - r["rx"]["packets"] / sent for r in runs]),
           "bad": sum(r["rx"]["bad"] for r in runs), "frames": sent}
    if any("cpus" in r for r in runs):  # threaded runs: how often TX and RX ended on different CPUs
        out["runs_on_two_cpus"] = sum(1 for r in runs if r.get("cpus") and r["cpus"]["tx"] != r["cpus"]["rx"])
    return out


def _forward_figures(runs: list) -> dict:
    """pps forwarded (both directions); frames the wire lost = primed - (drained + dropped)."""
    if not all(r["pps"] for r in runs):
        raise StateError(f"an io forwarding repetition forwarded nothing: {runs}")
    return {"pps": stats.summary([r["pps"] for r in runs]), "window": runs[0]["window"],
            "dropped": sum(r["dropped"] for r in runs), "foreign": sum(r["foreign"] for r in runs),
            "lost": sum(r["primed"] - r["drained"] - r["dropped"] for r in runs)}


def _latency_figures(runs: list) -> dict:
    samples = [s for r in runs for s in r["rtt_ns"]]
    out = stats.latency_summary(samples)
    out["rep_median_us"] = stats.summary([stats.percentile(r["rtt_ns"], 50) / 1000 for r in runs if r["rtt_ns"]])
    out["sent"] = sum(r["sent"] for r in runs)
    out["lost"] = sum(r["sent"] - r["answered"] for r in runs)
    out["bad"] = sum(r["bad"] for r in runs)
    return out


def _open(ctx, undo: ExitStack, address: str) -> int:
    backend = "vfio" if ctx.driver == "vfio-pci" else "uio"
    host = ctx.host
    host.call("bind", address=address, driver=ctx.driver, allow_uio=ctx.allow_uio, persistent=False)
    undo.callback(host.call, "restore", address=address)
    port = host.call("pmd_open", address=address, backend=backend)["port"]
    undo.callback(host.call, "pmd_close", port=port)
    if not host.call("pmd_link", port=port, timeout_ms=10000)["link_up"]:
        raise StateError(f"{address}: no link 10 s after the PMD opened it (cable to the peer down?)")
    return port


def run(ctx) -> dict:
    host, plan, prog = ctx.host, ctx.plan, ctx.progress
    devs = _devices(host)
    near, far = devs[ctx.nic], devs[ctx.peer]
    if not near.get("netdev") or not far.get("netdev"):
        raise StateError(f"{ctx.nic} and {ctx.peer} must both be on their kernel driver before the "
                         f"benchmark (run `nictest restore --host {ctx.host_name} --all`)")
    with prog.stage("datapath: build the C PMD on the host", 1):
        build = host.call("pmd_build", timeout=600)
    pps = {p: {} for p in PATHS + tuple(key for key, *_ in PMD_STREAMS[1:])}
    rtt = {p: {} for p in LATENCY_PATHS}
    forward = {}
    with ExitStack() as undo:
        prev = host.call("net_prepare", ifname=near["netdev"], up=True, ipv6=False)["previous"]
        undo.callback(host.call, "net_prepare", ifname=near["netdev"], up=bool(prev["up"]),
                      ipv6=True if prev["ipv6"] is None else bool(prev["ipv6"]), carrier_timeout_ms=0)
        with ExitStack() as in_netns:
            up = host.call("bench_netns_up", ifname=far["netdev"], netns=NETNS, timeout=60)
            in_netns.callback(host.call, "bench_netns_down", ifname=far["netdev"], netns=NETNS, up=up["was_up"])
            for size in plan.sizes:
                with prog.stage(f"datapath: kernel->kernel {size} B, {plan.stream_frames} frames", plan.reps):
                    kernel = [host.call(
                        "bench_kernel_stream", tx_if=near["netdev"], rx_if=far["netdev"], netns=NETNS,
                        dst=far["mac"], count=plan.stream_frames, size=size, timeout=120)
                        for _ in range(plan.reps)]
                pps["kernel"][size] = _stream_figures(kernel, plan.stream_frames)
                with prog.stage(f"datapath: kernel ping-pong {size} B, {plan.pingpongs} round trips", plan.reps):
                    rtt["kernel"][size] = _latency_figures([host.call(
                        "bench_kernel_pingpong", if_a=near["netdev"], if_b=far["netdev"], netns=NETNS,
                        count=plan.pingpongs, size=size, timeout=120) for _ in range(plan.reps)])
            with ExitStack() as bound_near:
                port_a = _open(ctx, bound_near, ctx.nic)
                for size in plan.sizes:
                    with prog.stage(f"datapath: PMD->kernel {size} B, {plan.stream_frames} frames", plan.reps):
                        mixed = [host.call("bench_pmd_to_kernel", port=port_a, rx_if=far["netdev"], netns=NETNS,
                                           dst=far["mac"], count=plan.stream_frames, size=size, timeout=120)
                                 for _ in range(plan.reps)]
                    pps["mixed"][size] = _stream_figures(mixed, plan.stream_frames)
                in_netns.close()  # the far NIC back in the root netns before it is bound
                port_b = _open(ctx, bound_near, ctx.peer)
                for size in plan.sizes:
                    for key, check, threads, *_ in PMD_STREAMS:
                        with prog.stage(f"datapath: PMD->PMD {size} B, {plan.pmd_frames} frames, {check} checked, "
                                        f"{threads} thread{'s' if threads > 1 else ''}", plan.reps):
                            runs = [host.call("pmd_txrx", tx_port=port_a, rx_port=port_b, count=plan.pmd_frames,
                                              size=size, timeout_ms=1000, check=check, threads=threads, timeout=120)
                                    for _ in range(plan.reps)]
                        pps[key][size] = _stream_figures(runs, plan.pmd_frames, lossy=threads > 1)
                    with prog.stage(f"datapath: PMD ping-pong {size} B, {plan.pingpongs} round trips", plan.reps):
                        rtt["pmd"][size] = _latency_figures([host.call(
                            "bench_pmd_pingpong", port_a=port_a, port_b=port_b, count=plan.pingpongs, size=size,
                            timeout=120) for _ in range(plan.reps)])
                    with prog.stage(f"datapath: PMD io forwarding {size} B, {FWD_WINDOW} frames primed per port, "
                                    f"{FWD_MEASURE_MS / 1000:g} s", plan.reps):
                        forward[size] = _forward_figures([host.call(
                            "pmd_forward", port_a=port_a, port_b=port_b, size=size, window=FWD_WINDOW,
                            warm_ms=FWD_WARM_MS, measure_ms=FWD_MEASURE_MS, timeout=120) for _ in range(plan.reps)])
    ratios = {}
    for size in plan.sizes:
        k, p, m = (pps[x][size]["rx_pps"]["median"] for x in PATHS)
        kl, pl = rtt["kernel"][size], rtt["pmd"][size]
        ratios[size] = {"pps_pmd_over_kernel": stats.ratio(p, k), "pps_mixed_over_kernel": stats.ratio(m, k),
                        "rtt_kernel_over_pmd": stats.ratio(kl["median_us"], pl["median_us"]),
                        "p99_kernel_over_pmd": stats.ratio(kl["p99_us"], pl["p99_us"])}
    return {"nic": ctx.nic, "peer": ctx.peer, "driver": ctx.driver, "netns": NETNS, "reps": plan.reps,
            "sizes": list(plan.sizes), "pmd_build": build,
            "checks": {"pmd": "payload: every byte of every frame compared", "mixed": "payload",
                       PMD_RATE: "sequence: sequence numbers, length and magic only (rate mode)",
                       "pmd_rate_threads": "sequence, TX and RX on threads of their own"},
            "pps": {p: {str(s): v for s, v in d.items()} for p, d in pps.items()},
            "latency": {p: {str(s): v for s, v in d.items()} for p, d in rtt.items()},
            "forward": {str(s): v for s, v in forward.items()},
            "ratios": {str(s): v for s, v in ratios.items()}}
