"""Where the numbers came from: controller CPU, cores, kernels, accel, date, commit, load."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import nictest


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    repo = Path(nictest.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("+dirty" if dirty else "")


def accel(spec) -> str:
    """tcg/kvm for a lab host (what it booted with), "bare metal or unknown" otherwise."""
    if getattr(spec, "kind", None) != "qemu":
        return "n/a (not a lab VM)"
    from nictest.lab import LabVM

    return LabVM(spec.lab or spec.name).state().get("accel") or "unknown"


def load() -> list:
    return [round(x, 2) for x in os.getloadavg()]


def info(host, spec) -> dict:
    hello = host.call("hello")
    return {"controller_cpu": cpu_model(), "controller_cores": os.cpu_count(),
            "controller_kernel": platform.release(), "host": spec.name, "host_kernel": hello.get("kernel"),
            "host_python": hello.get("python"), "accel": accel(spec),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(), "loadavg_start": load(),
            "note": "absolute times on a TCG lab are emulation times and other sessions may share the "
                    "cores (see loadavg): compare the ratios, taken side by side in this run"}
