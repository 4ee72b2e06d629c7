"""Group 2, lifecycle overhead: `nictest` bind + restore of one NIC (agent calls, timed on
the controller: checks, journal, udev waits and the round trip included) against the
floor: the same sysfs writes by a bare shell loop on the host, timed there.

The floor only runs after nictest's own bind/restore of the same NIC succeeded, i.e.
after the safety checks (allow-list, management NIC, IOMMU group) accepted it.
"""
from __future__ import annotations

import time

from nictest.bench import shell, stats
from nictest.errors import StateError

# driver_override, unbind, drivers_probe (bind); unbind, clear override, drivers_probe (restore):
# echo is a builtin, so nothing but the sysfs writes is timed.
FLOOR_BIND = "echo {target} > $d/driver_override; echo $dev > $d/driver/unbind; echo $dev > /sys/bus/pci/drivers_probe"
FLOOR_RESTORE = "echo $dev > $d/driver/unbind; echo > $d/driver_override; echo $dev > /sys/bus/pci/drivers_probe"
# never leave the NIC driverless: whatever happens, clear the override and re-probe
FLOOR_TRAP = "echo > $d/driver_override || true; echo $dev > /sys/bus/pci/drivers_probe 2>/dev/null || true"
# The same restore, then wait for udev to finish the events it caused (the netdev's naming among
# them), as nictest's restore waits for its netdev's udev "add": the floor of a restore whose
# netdev is named again. settle waits for udev's whole queue; on a quiet host that is these events.
FLOOR_RESTORE_SETTLED = FLOOR_RESTORE + "; udevadm settle --timeout=60"


def original_driver(host, address: str) -> str:
    for dev in host.call("status")["devices"]:
        if dev["address"] == address:
            if not dev.get("driver") or dev.get("driver") in ("vfio-pci", "uio_pci_generic"):
                raise StateError(f"{address} is on {dev.get('driver')!r}, not its kernel driver: "
                                 "`nictest restore --all` first")
            return dev["driver"]
    raise StateError(f"no device {address} on the host")


def _with_round_trip(phases: dict, seconds: float) -> dict:
    """The agent's phases cover its op from entry to return: the rest of the controller's
    time is the round trip (SSH, JSON, dispatch)."""
    return dict(phases, round_trip=max(seconds - sum(phases.values()), 0.0))


def phase_medians(runs: list) -> dict:
    """{phase: median seconds} over the repetitions (a phase missing from a run counts 0 there)."""
    names = sorted({name for run in runs for name in run})
    return {name: round(stats.percentile([run.get(name, 0.0) for run in runs], 50), 4) for name in names}


def run(ctx) -> dict:
    host, reps, prog = ctx.host, ctx.plan.lifecycle_reps, ctx.progress
    original = original_driver(host, ctx.nic)
    bind_s, restore_s, bind_host_s, restore_host_s = [], [], [], []
    bind_phases, restore_phases = [], []
    with prog.stage(f"lifecycle: nictest bind + restore {ctx.nic} -> {ctx.driver}", reps):
        for _ in range(reps):
            t0 = time.perf_counter()
            bound = host.call("bind", address=ctx.nic, driver=ctx.driver, allow_uio=ctx.allow_uio, persistent=False)
            t1 = time.perf_counter()
            restored = host.call("restore", address=ctx.nic, timeout=120)
            t2 = time.perf_counter()
            if restored.get("driver") != original:
                raise StateError(f"restore put {ctx.nic} on {restored.get('driver')}, not {original}")
            bind_s.append(t1 - t0)
            restore_s.append(t2 - t1)
            bind_host_s.append(bound["seconds"])
            restore_host_s.append(restored["restore_seconds"])
            bind_phases.append(_with_round_trip(bound.get("phases") or {}, t1 - t0))
            restore_phases.append(_with_round_trip(restored.get("phases") or {}, t2 - t1))
    with prog.stage("lifecycle: floor, bare sysfs writes in one ssh command on the host", reps):
        floor_bind, floor_restore = shell.timed_loop(
            host, "floor", address=ctx.nic, original=original, reps=reps,
            bind=FLOOR_BIND.format(target=ctx.driver), restore=FLOOR_RESTORE, trap=FLOOR_TRAP)
    with prog.stage("lifecycle: floor with udev's work waited for (udevadm settle after each restore)", reps):
        _, floor_restore_settled = shell.timed_loop(
            host, "settled floor", address=ctx.nic, original=original, reps=reps,
            bind=FLOOR_BIND.format(target=ctx.driver), restore=FLOOR_RESTORE_SETTLED, trap=FLOOR_TRAP)
    # drivers_probe returns before udev has named the netdev: wait so the next group finds it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dev = next(d for d in host.call("status")["devices"] if d["address"] == ctx.nic)
        if dev.get("netdev"):
            break
        time.sleep(0.5)
    figures = {"nictest_bind_s": stats.summary(bind_s), "nictest_restore_s": stats.summary(restore_s),
               "nictest_bind_host_s": stats.summary(bind_host_s),
               "nictest_restore_host_s": stats.summary(restore_host_s),
               "floor_bind_s": stats.summary(floor_bind), "floor_restore_s": stats.summary(floor_restore),
               "floor_restore_settled_s": stats.summary(floor_restore_settled)}
    med = {k: v["median"] for k, v in figures.items()}
    return {"nic": ctx.nic, "driver": ctx.driver, "kernel_driver": original, "reps": reps, **figures,
            "bind_phases_s": phase_medians(bind_phases), "restore_phases_s": phase_medians(restore_phases),
            "ratios": {"bind_nictest_over_floor": stats.ratio(med["nictest_bind_s"], med["floor_bind_s"]),
                       "restore_nictest_over_floor": stats.ratio(med["nictest_restore_s"], med["floor_restore_s"]),
                       "bind_restore_nictest_over_floor": stats.ratio(
                           med["nictest_bind_s"] + med["nictest_restore_s"],
                           med["floor_bind_s"] + med["floor_restore_s"]),
                       "restore_nictest_over_settled_floor": stats.ratio(
                           med["nictest_restore_s"], med["floor_restore_settled_s"]),
                       "bind_restore_nictest_over_settled_floor": stats.ratio(
                           med["nictest_bind_s"] + med["nictest_restore_s"],
                           med["floor_bind_s"] + med["floor_restore_settled_s"])},
            "goal": "nictest <= 1.5x the floor"}
