"""Run a host command from the agent: argv only (never a shell), bounded, its output kept."""
from __future__ import annotations

import subprocess


def run(argv: list, timeout: float) -> dict:
    """{argv, rc, stdout, stderr}; rc 127 with a "not installed" stderr when argv[0] is missing."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return {"argv": argv, "rc": 127, "stdout": "", "stderr": f"{argv[0]}: not installed"}
    return {"argv": argv, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
