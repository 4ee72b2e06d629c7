"""Group 3, controller overhead: one agent call (`ping`) over the persistent SSH channel vs a
fresh `ssh host true`; `nictest status` end to end in a fresh process vs that fresh ssh and vs
the floor of reading the same sysfs files on the host (a shell loop timed inside the host);
`nictest bind` and `nictest unbind` end to end (the peers group sets them beside dpdk-devbind.py).

The CLI is served by the host's resident agent (agent/resident.py) through the controller's
kept SSH connection (hosts/mux.py). The group first ends any kept connection, so the first
status call of a run pays the handshake and the keeper's start, and may start the resident
agent (its time is reported apart, as `status_cli_first_s`); the others find both running,
as a user's second call does. The same calls with keeping off (NICTEST_CONTROL_PERSIST=0:
a handshake per call) are reported beside them, as `status_cli_direct_s`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from nictest.bench import shell, stats
from nictest.errors import NictestError
from nictest.hosts.mux import PERSIST_ENV

# What discovery reads per PCI network device (class 0x02....): ids, driver, override, IOMMU
# group, NUMA node, netdev name, MAC, counters; plus the routes for the "active" check.
# Builtins only: no process start inside the timed part.
FLOOR_SCRIPT = r"""
for i in $(seq {reps}); do
  t0=${{EPOCHREALTIME/./}}
  for d in /sys/bus/pci/devices/*; do
    read -r class < $d/class
    [ "${{class:0:4}}" = 0x02 ] || continue
    read -r v < $d/vendor; read -r dv < $d/device; read -r o < $d/driver_override
    read -r numa < $d/numa_node
    # `cd -P` resolves a symlink without starting readlink(1)
    cd -P $d/driver 2>/dev/null && drv=${{PWD##*/}}; cd -P $d/iommu_group 2>/dev/null && grp=${{PWD##*/}}; cd /
    for n in $d/net/*; do
      [ -e $n ] || continue
      read -r mac < $n/address; read -r rxp < $n/statistics/rx_packets; read -r txp < $n/statistics/tx_packets
    done
  done
  while read -r line; do :; done < /proc/net/route
  t1=${{EPOCHREALTIME/./}}
  echo "STATUS $((t1 - t0))"
done
"""


def _cli(ctx, *command: str, kept: bool = True) -> float:
    """Seconds of one `nictest <command>` in a fresh process, as a user runs it; kept False:
    with no kept SSH connection (a handshake of its own)."""
    argv = [sys.executable, "-m", "nictest.cli"]
    if ctx.inventory:
        argv += ["--inventory", ctx.inventory]
    argv += [*command, "--host", ctx.host_name]
    env = None if kept else {**os.environ, PERSIST_ENV: "0"}
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise NictestError(f"`nictest {' '.join(command)} --host {ctx.host_name}` failed (rc {res.returncode}): "
                           f"{res.stderr.strip()[-300:]}")
    return seconds


def _bind_cli(ctx) -> tuple:
    """`nictest bind` then `nictest unbind` of the bench NIC, each end to end; the NIC ends on
    its kernel driver whatever happens (the session's agent restores it)."""
    bind_args = ["bind", ctx.nic, ctx.driver] + (["--allow-uio"] if ctx.allow_uio else [])
    bound = False
    try:
        bind = _cli(ctx, *bind_args)
        bound = True
        unbind = _cli(ctx, "unbind", ctx.nic)
        bound = False
    finally:
        if bound:
            ctx.host.call("restore", address=ctx.nic, timeout=120)
    return bind, unbind


def run(ctx) -> dict:
    host, plan, prog = ctx.host, ctx.plan, ctx.progress
    calls = []
    with prog.stage("controller: agent call (ping) over the persistent channel", plan.agent_calls):
        for _ in range(plan.agent_calls):
            t0 = time.perf_counter()
            host.call("ping")
            calls.append(time.perf_counter() - t0)
    with prog.stage("controller: fresh `ssh host true`", plan.fresh_ssh):
        fresh = [shell.timed_true(host) for _ in range(plan.fresh_ssh)]
    with prog.stage(f"controller: `nictest status --host {ctx.host_name}` (fresh process)", 2 * plan.status_runs + 1):
        _cli(ctx, "disconnect")  # the first call below starts the keeper, as a user's first does
        first = _cli(ctx, "status")
        status = [_cli(ctx, "status") for _ in range(plan.status_runs)]
        direct = [_cli(ctx, "status", kept=False) for _ in range(plan.status_runs)]
    with prog.stage(f"controller: `nictest bind {ctx.nic} {ctx.driver}` and `nictest unbind` (fresh processes)",
                    plan.status_runs):
        binds = [_bind_cli(ctx) for _ in range(plan.status_runs)]
    _cli(ctx, "disconnect")  # leave no keeper behind the bench
    with prog.stage("controller: floor, the same sysfs reads in one ssh command on the host", plan.floor_reps):
        floor = shell.parse_times(shell.run(host, FLOOR_SCRIPT.format(reps=plan.floor_reps)), "STATUS")
    if len(floor) != plan.floor_reps:
        raise NictestError(f"the sysfs floor loop printed {len(floor)} times, want {plan.floor_reps}")
    figures = {"agent_call_s": stats.summary(calls), "fresh_ssh_s": stats.summary(fresh),
               "status_cli_s": stats.summary(status), "status_cli_direct_s": stats.summary(direct),
               "status_floor_s": stats.summary(floor),
               "bind_cli_s": stats.summary([b for b, _ in binds]), "unbind_cli_s": stats.summary([u for _, u in binds])}
    med = {k: v["median"] for k, v in figures.items()}
    return {**figures, "status_cli_first_s": first, "nic": ctx.nic, "driver": ctx.driver,
            "ratios": {"agent_call_over_fresh_ssh": stats.ratio(med["agent_call_s"], med["fresh_ssh_s"]),
                       "status_cli_over_fresh_ssh": stats.ratio(med["status_cli_s"], med["fresh_ssh_s"]),
                       "status_cli_direct_over_fresh_ssh": stats.ratio(med["status_cli_direct_s"],
                                                                       med["fresh_ssh_s"]),
                       "status_cli_over_floor": stats.ratio(med["status_cli_s"], med["status_floor_s"])},
            "goal": "agent call < 0.02x a fresh ssh command; nictest status <= 1.3x it"}
