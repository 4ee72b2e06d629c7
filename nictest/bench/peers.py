"""Group `peers`: DPDK's own tools on the same host and NIC pair, in the same run.

- testpmd: `--forward-mode=txonly` on the NIC, `--forward-mode=rxonly` on its cabled peer,
  one process per port (each its own --file-prefix, forwarding on the other vCPU), both
  NICs bound to vfio-pci by nictest first (so its safety checks decide). The figure is
  testpmd's own Rx-pps over a window in the middle of the stream.
- testpmd io forwarding: both NICs in one process (`--forward-mode=io`, one forwarding
  core), `start tx_first`; the figure is the Rx-pps of both ports together, beside
  nictest's io forwarding (datapath group) with the same 32 frames primed per port.
- dpdk-devbind.py: `-b vfio-pci` and back to the kernel driver, timed on the host like the
  lifecycle floor, only after nictest's own bind and restore of the NIC passed.

On a host without DPDK the group fails saying what to install; the other groups still run.
"""
from __future__ import annotations

import re
from contextlib import ExitStack

from nictest.bench import shell, stats
from nictest.bench.datapath import PMD_STREAMS
from nictest.bench.lifecycle import original_driver
from nictest.errors import PrerequisiteMissing, StateError

TOOLS = ("dpdk-testpmd", "dpdk-devbind.py")
WARM_S, WINDOW_S = 16, 6   # rx: first `show port stats` after WARM_S, the second WINDOW_S later
TX_START_S, TX_STOP_S = 4, 30  # tx: launched TX_START_S after rx, told to stop TX_STOP_S after its launch
MBUFS = 8192               # fits two testpmd processes in the lab's 64 x 2 MiB hugepages

# Both testpmd processes read their commands from a pipe: the writer's sleeps set the
# window; `show port stats all` prints Rx-pps "since last show" (testpmd's own rate).
TESTPMD_SCRIPT = r"""
set -u
rx_log=$(mktemp); tx_log=$(mktemp)
trap 'rm -f $rx_log $tx_log' EXIT
( echo start; sleep {warm}; echo "show port stats all"; sleep {window}; echo "show port stats all"; echo stop; echo quit ) |
  timeout 120 dpdk-testpmd -l 0,1 --main-lcore 1 -n 1 -a {rx} --file-prefix nictest-rx -- \
    --total-num-mbufs={mbufs} -i --forward-mode=rxonly > $rx_log 2>&1 &
rx_pid=$!
sleep {tx_start}
( echo start; sleep {tx_stop}; echo stop; echo quit ) |
  timeout 120 dpdk-testpmd -l 0,1 --main-lcore 0 -n 1 -a {tx} --file-prefix nictest-tx -- \
    --total-num-mbufs={mbufs} -i --forward-mode=txonly --txpkts={size} > $tx_log 2>&1
tx_rc=$?
wait $rx_pid; rx_rc=$?
echo "TX_RC $tx_rc"; echo "RX_RC $rx_rc"
sed 's/^/RX| /' $rx_log; sed 's/^/TX| /' $tx_log
"""

# io forwarding: one process drives both ports (one forwarding lcore, as nictest's one
# thread), `start tx_first` primes one burst per port, each port's RX leaves by the other.
TESTPMD_IO_SCRIPT = r"""
set -u
io_log=$(mktemp)
trap 'rm -f $io_log' EXIT
( echo "start tx_first"; sleep {warm}; echo "show port stats all"; sleep {window}; echo "show port stats all";
  echo stop; echo quit ) |
  timeout 120 dpdk-testpmd -l 0,1 --main-lcore 0 -n 1 -a {a} -a {b} --file-prefix nictest-io -- \
    --total-num-mbufs={mbufs} -i --forward-mode=io --nb-cores=1 --txpkts={size} > $io_log 2>&1
echo "IO_RC $?"
sed 's/^/IO| /' $io_log
"""

DEVBIND_BIND = "dpdk-devbind.py -b {target} $dev > /dev/null"
DEVBIND_RESTORE = "dpdk-devbind.py -b {original} $dev > /dev/null"
# whatever happens, the NIC goes back to its kernel driver with no override left
DEVBIND_TRAP = "dpdk-devbind.py -b {original} $dev >/dev/null 2>&1 || true; echo > $d/driver_override || true"


def require_dpdk(host, host_name: str) -> None:
    out = shell.run(host, "for t in " + " ".join(TOOLS) + "; do command -v $t > /dev/null || echo MISSING $t; done; true")
    missing = [line.split()[1] for line in out.splitlines() if line.startswith("MISSING ")]
    if missing:
        raise PrerequisiteMissing(
            f"{host_name} has no {', '.join(missing)}: the peers need DPDK on the host (Debian 12: "
            "apt-get install dpdk dpdk-dev; testpmd is in dpdk-dev), or use the bundled lab-bench")


def parse_testpmd(out: str) -> dict:
    """Rx-pps of the rx process's second `show port stats`, with the RX-packets counts of both shows."""
    rx = [line[4:] for line in out.splitlines() if line.startswith("RX| ")]
    codes = dict(re.findall(r"^(TX_RC|RX_RC) (\d+)$", out, re.M))
    rates = [int(v) for v in re.findall(r"Rx-pps:\s+(\d+)", "\n".join(rx))]
    counts = [int(v) for v in re.findall(r"RX-packets:\s+(\d+)\s+RX-missed", "\n".join(rx))]
    if codes.get("TX_RC") != "0" or codes.get("RX_RC") != "0" or len(rates) < 2 or len(counts) < 2:
        tail = "\n".join(out.splitlines()[-25:])
        raise StateError(f"testpmd did not run through (tx rc {codes.get('TX_RC')}, rx rc {codes.get('RX_RC')}, "
                         f"{len(rates)} rate lines): {tail}")
    if counts[0] == 0:
        raise StateError("testpmd's receiver had nothing yet at the first show: the sender started late, "
                         "the window would not be inside the stream")
    return {"rx_pps": rates[1], "rx_packets_window": counts[1] - counts[0]}


def parse_testpmd_io(out: str) -> dict:
    """Frames forwarded per second: the Rx-pps of both ports at the second `show port stats all`."""
    io = "\n".join(line[4:] for line in out.splitlines() if line.startswith("IO| "))
    code = re.search(r"^IO_RC (\d+)$", out, re.M)
    rates = [int(v) for v in re.findall(r"Rx-pps:\s+(\d+)", io)]
    counts = [int(v) for v in re.findall(r"RX-packets:\s+(\d+)\s+RX-missed", io)]
    if code is None or code.group(1) != "0" or len(rates) != 4 or len(counts) != 4:
        tail = "\n".join(out.splitlines()[-25:])
        raise StateError(f"testpmd io forwarding did not run through (rc {code.group(1) if code else None}, "
                         f"{len(rates)} rate lines, want 4): {tail}")
    if not all(counts[2:]) or counts[2] + counts[3] <= counts[0] + counts[1]:
        raise StateError(f"testpmd forwarded nothing between the two shows (RX-packets {counts}): the primed "
                         "burst did not come back")
    return {"rx_pps": rates[2] + rates[3], "rx_packets_window": counts[2] + counts[3] - counts[0] - counts[1]}


def _testpmd_io(ctx, size: int) -> dict:
    script = TESTPMD_IO_SCRIPT.format(warm=WARM_S, window=WINDOW_S, a=ctx.nic, b=ctx.peer, size=size,
                                      mbufs=MBUFS)
    return parse_testpmd_io(shell.run(ctx.host, script, timeout=180))


def _testpmd(ctx, size: int) -> dict:
    script = TESTPMD_SCRIPT.format(warm=WARM_S, window=WINDOW_S, tx_start=TX_START_S, tx_stop=TX_STOP_S,
                                   rx=ctx.peer, tx=ctx.nic, size=size, mbufs=MBUFS)
    return parse_testpmd(shell.run(ctx.host, script, timeout=180))


def _devbind(ctx, original: str) -> dict:
    bind, restore = shell.timed_loop(
        ctx.host, "devbind", address=ctx.nic, original=original, reps=ctx.plan.peer_reps,
        bind=DEVBIND_BIND.format(target=ctx.driver), restore=DEVBIND_RESTORE.format(original=original),
        trap=DEVBIND_TRAP.format(original=original), timeout=600)
    return {"bind_s": stats.summary(bind), "restore_s": stats.summary(restore)}


def _bind_all(host, undo: ExitStack, addresses, driver: str, allow_uio: bool) -> None:
    """Bind each NIC, its restore on `undo`: every one is restored even when another restore fails."""
    for address in addresses:
        host.call("bind", address=address, driver=driver, allow_uio=allow_uio, persistent=False)
        undo.callback(host.call, "restore", address=address, timeout=120)


def run(ctx) -> dict:
    host, plan, prog = ctx.host, ctx.plan, ctx.progress
    require_dpdk(host, ctx.host_name)
    original = original_driver(host, ctx.nic)
    original_driver(host, ctx.peer)  # both on their kernel driver before anything moves
    pps, io = {}, {}
    with ExitStack() as undo:
        _bind_all(host, undo, (ctx.nic, ctx.peer), ctx.driver, ctx.allow_uio)
        for size in plan.peer_sizes:
            with prog.stage(f"peers: testpmd txonly -> rxonly {size} B (~{WARM_S + WINDOW_S + 10} s each)",
                            plan.peer_reps):
                runs = [_testpmd(ctx, size) for _ in range(plan.peer_reps)]
            pps[str(size)] = {"rx_pps": stats.summary([r["rx_pps"] for r in runs]), "runs": runs}
            with prog.stage(f"peers: testpmd io forwarding {size} B (~{WARM_S + WINDOW_S + 5} s each)",
                            plan.peer_reps):
                runs = [_testpmd_io(ctx, size) for _ in range(plan.peer_reps)]
            io[str(size)] = {"rx_pps": stats.summary([r["rx_pps"] for r in runs]), "runs": runs}
    with prog.stage(f"peers: dpdk-devbind.py -b {ctx.driver} and back, {ctx.nic}", plan.peer_reps):
        devbind = _devbind(ctx, original)
    return {"nic": ctx.nic, "peer": ctx.peer, "driver": ctx.driver, "kernel_driver": original,
            "reps": plan.peer_reps, "testpmd": {"mode": "txonly on the NIC, rxonly on its peer, one process each",
                                                "mbufs": MBUFS, "window_s": WINDOW_S, "pps": pps},
            "testpmd_io": {"mode": "io forwarding, both ports in one process, one forwarding core, "
                                   "`start tx_first` (one burst of 32 per port)", "window_s": WINDOW_S, "pps": io},
            "devbind": devbind}


def ratios(data: dict) -> dict:
    """nictest over its peers, from the groups of the same run (medians)."""
    peers, dp, life = data.get("peers", {}), data.get("datapath", {}), data.get("lifecycle", {})
    ctl = data.get("controller", {})
    out = {}
    if peers.get("ok") and dp.get("ok"):
        for size, fig in peers["testpmd"]["pps"].items():
            for path, *_ in PMD_STREAMS:
                mine = dp["pps"].get(path, {}).get(size)
                if mine:
                    out[f"{path}_over_testpmd_{size}"] = stats.ratio(mine["rx_pps"]["median"], fig["rx_pps"]["median"])
    if peers.get("ok") and dp.get("ok"):
        for size, fig in peers.get("testpmd_io", {}).get("pps", {}).items():
            mine = dp.get("forward", {}).get(size)
            if mine:
                out[f"forward_over_testpmd_io_{size}"] = stats.ratio(mine["pps"]["median"], fig["rx_pps"]["median"])
    if peers.get("ok") and life.get("ok"):
        out["bind_nictest_over_devbind"] = stats.ratio(life["nictest_bind_s"]["median"],
                                                       peers["devbind"]["bind_s"]["median"])
        out["restore_nictest_over_devbind"] = stats.ratio(life["nictest_restore_s"]["median"],
                                                          peers["devbind"]["restore_s"]["median"])
    if peers.get("ok") and ctl.get("ok") and "bind_cli_s" in ctl:
        # end to end: the CLI's process, SSH connection and agent against devbind run on the host
        out["bind_cli_over_devbind"] = stats.ratio(ctl["bind_cli_s"]["median"], peers["devbind"]["bind_s"]["median"])
        out["unbind_cli_over_devbind"] = stats.ratio(ctl["unbind_cli_s"]["median"],
                                                     peers["devbind"]["restore_s"]["median"])
    return out
