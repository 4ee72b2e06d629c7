"""Group 4, parallel scaling: a fixed subset of the suites once per host serially
(`--host H`, then `--host H2`) and once on both hosts at once with `-n 2`, as pytest
subprocesses with --keep-lab. Both hosts must already be up (boot time is not measured):
the runner checks that before this group starts.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import nictest
from nictest.bench import stats
from nictest.errors import NictestError, PrerequisiteMissing

REPO = Path(nictest.__file__).resolve().parent.parent
_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|deselected)")


def _pytest(ctx, hosts: list, workers: int) -> dict:
    argv = [sys.executable, "-m", "pytest", *ctx.plan.parallel_suites, "--keep-lab", "-q"]
    for h in hosts:
        argv += ["--host", h]
    if workers > 1:
        argv += ["-n", str(workers)]
    if ctx.allow_uio:
        argv.append("--allow-uio")
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1200)
    seconds = time.perf_counter() - t0
    tail = (res.stdout.strip().splitlines() or [""])[-1]
    counts = {kind: int(n) for n, kind in _SUMMARY.findall(tail)}
    if res.returncode not in (0, 1) or not counts:
        raise NictestError(f"pytest {' '.join(argv[3:])} did not run (rc {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-400:]}")
    return {"hosts": hosts, "workers": workers, "seconds": seconds, "rc": res.returncode, "summary": tail,
            "counts": counts}


def run(ctx, pair_host: str) -> dict:
    if not (REPO / "suites").is_dir():
        raise PrerequisiteMissing(f"no suites/ beside the nictest package ({REPO}): the parallel group runs "
                                  "from a checkout of the repository")
    prog, suites, reps = ctx.progress, " ".join(ctx.plan.parallel_suites), ctx.plan.parallel_reps
    serial_runs, parallel_runs = [], []
    for rep in range(1, reps + 1):  # interleaved, so a burst of load hits both kinds alike
        for h in (ctx.host_name, pair_host):
            with prog.stage(f"parallel {rep}/{reps}: pytest {suites} --host {h} (serial)", 1):
                serial_runs.append(_pytest(ctx, [h], 1))
        with prog.stage(f"parallel {rep}/{reps}: pytest {suites} --host {ctx.host_name} --host {pair_host} -n 2", 1):
            parallel_runs.append(_pytest(ctx, [ctx.host_name, pair_host], 2))
    serial = stats.summary([a["seconds"] + b["seconds"] for a, b in zip(serial_runs[::2], serial_runs[1::2])])
    parallel = stats.summary([r["seconds"] for r in parallel_runs])
    return {"suites": list(ctx.plan.parallel_suites), "pair_host": pair_host, "reps": reps,
            "serial_runs": serial_runs, "parallel_runs": parallel_runs, "serial_s": serial, "parallel_s": parallel,
            "ratios": {"parallel_over_serial": stats.ratio(parallel["median"], serial["median"])},
            "all_passed": all(r["rc"] == 0 for r in serial_runs + parallel_runs)}
