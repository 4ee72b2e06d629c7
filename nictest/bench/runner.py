"""Run the four measurement groups against one host, then write bench.json, the plot and
(optionally) the README table. A group that fails is recorded with its reason; the
others still run."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable, Optional

from nictest import hosts, inventory
from nictest.bench import controller, datapath, lifecycle, machine, parallel, peers, plot, table
from nictest.bench.context import Context, Plan
from nictest.bench.progress import Progress
from nictest.binding.drivers import user_driver
from nictest.errors import InventoryError, NictestError

GROUPS = ("datapath", "lifecycle", "controller", "parallel")
PEERS = "peers"  # DPDK's testpmd and dpdk-devbind.py beside them: `nictest bench --peers`
DEFAULT_PAIR = {"lab1": "lab2"}  # the two bundled labs


def default_pair(host_name: str) -> Optional[str]:
    return DEFAULT_PAIR.get(host_name)


def _nic_pair(spec) -> tuple:
    for link in spec.links or ():
        ends = list(link)
        if len(ends) == 2:
            return ends[0], ends[1]
    raise InventoryError(f"{spec.name} declares no cabled NIC pair: add `links = [[\"BDF\", \"BDF\"]]` to its "
                         "entry in hosts.toml (the data-path figures need two NICs cabled to each other)")


def _group(name: str, progress: Progress, fn) -> dict:
    t0 = time.monotonic()
    try:
        result = fn()
        result["ok"] = True
    except (NictestError, OSError, ValueError, KeyError) as exc:
        progress.line(f"{name}: FAILED: {type(exc).__name__}: {' '.join(str(exc).split())}")
        result = {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    result["group_seconds"] = round(time.monotonic() - t0, 1)
    return result


def _check_pair(pair_host: Optional[str], host_name: str, inventory_path: Optional[str]) -> str:
    if not pair_host:
        raise InventoryError(f"no second host for the parallel group: pass --pair-host H2 (the default pair "
                             f"exists only for {', '.join(DEFAULT_PAIR)}; for {host_name} name one)")
    if pair_host == host_name:
        raise InventoryError("--pair-host must differ from --host")
    spec = inventory.parse_host_arg(pair_host, inventory.load(inventory_path))
    with hosts.connect(spec):  # up and answering; a lab that is down says `nictest lab up`
        pass
    return pair_host


def auto_notes(data: dict) -> list:
    """What the figures say against the issue's goals (computed, not written by hand)."""
    notes = []
    dp = data.get("datapath", {})
    if dp.get("ok") and "64" in dp["ratios"]:
        r = dp["ratios"]["64"]["pps_pmd_over_kernel"]
        if r is not None:
            notes.append(f"PMD/kernel pps at 64 B: {r:.1f}x (goal: ~8x, what DPDK's PMD reaches on this lab)"
                         + ("" if r >= 8 else " — below the goal"))
    return notes


def run(host_name: str, *, pair_host: Optional[str], inventory_path: Optional[str], allow_uio: bool,
        plan: Plan, groups: Iterable[str] = GROUPS, notes: Iterable[str] = (),
        progress: Optional[Progress] = None) -> dict:
    progress = progress or Progress()
    groups = list(groups)
    spec = inventory.parse_host_arg(host_name, inventory.load(inventory_path))
    nic, peer = _nic_pair(spec)
    data: dict = {"schema": 1, "plan": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(plan).items()}}
    progress.line(f"connecting to {host_name}")
    with hosts.connect(spec) as host:
        data["machine"] = machine.info(host, spec)
        ctx = Context(host=host, host_name=host_name, nic=nic, peer=peer,
                      driver=user_driver(bool(host.info.get("iommu")), allow_uio),
                      allow_uio=allow_uio, progress=progress, plan=plan, pair_host=pair_host,
                      inventory=inventory_path)
        for name, mod in (("datapath", datapath), ("lifecycle", lifecycle), ("controller", controller),
                          (PEERS, peers)):
            if name in groups:
                data[name] = _group(name, progress, lambda mod=mod: mod.run(ctx))
    if "parallel" in groups:
        data["parallel"] = _group("parallel", progress, lambda: parallel.run(
            ctx, _check_pair(pair_host, host_name, inventory_path)))
    if PEERS in data and data[PEERS].get("ok"):
        data[PEERS]["ratios"] = peers.ratios(data)
    data["machine"]["loadavg_end"] = machine.load()
    data["machine"]["total_seconds"] = round(progress.elapsed(), 1)
    data["notes"] = auto_notes(data) + list(notes)
    progress.line(f"total {progress.elapsed():.0f} s ({progress.elapsed() / 60:.1f} min)")
    return data


def write_outputs(data: dict, json_path: Path, plot_path: Optional[Path], readme: Optional[Path]) -> list:
    """bench.json, the plot (when the data path ran) and the README block; returns what was written."""
    written = []
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    written.append(json_path)
    if plot_path is not None and data.get("datapath", {}).get("ok"):
        plot.write(data, plot_path)
        written.append(plot_path)
    if readme is not None:
        table.update_readme(readme, data)
        written.append(readme)
    return written
