"""Fresh OpenSSH commands to a host, as a user would type them: the floor figures
(shell loops timed inside the host) and the cost of a fresh `ssh host true`.

The argv uses the same key, port and known_hosts the SSH transport resolved for
the host (a lab's own key and known_hosts file); host keys are never auto-accepted.
"""
from __future__ import annotations

import shlex
import subprocess
import time
from typing import List

from nictest.errors import HostUnreachable


def ssh_argv(host) -> List[str]:
    """`ssh ... user@addr` for `host` (an SSHHost); raises for hosts reached otherwise."""
    if not hasattr(host, "resolve_target"):
        raise HostUnreachable(f"{host.name} is not reached over SSH: the SSH figures need an ssh or lab host")
    target = host.resolve_target()
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-p", str(target.port)]
    for key in target.key_filenames:
        argv += ["-i", key, "-o", "IdentitiesOnly=yes"]
    if host.known_hosts_file():
        argv += ["-o", f"UserKnownHostsFile={host.known_hosts_file()}"]
    # The path the transport took: ssh looks each jump host up in ~/.ssh/config itself.
    hops = target.path()[:-1]
    if hops:
        argv += ["-J", ",".join(f"{h.user}@{_bracketed(h.alias)}:{h.port}" for h in hops)]
    elif target.proxy_command:
        argv += ["-o", f"ProxyCommand={target.proxy_command}"]
    return argv + [f"{target.user}@{target.hostname}"]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(host, script: str, timeout: float = 120) -> str:
    """Run `script` with bash on the host in one fresh ssh command; its stdout."""
    argv = ssh_argv(host) + ["bash -c " + shlex.quote(script)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise HostUnreachable(f"{host.name}: ssh command failed (rc {res.returncode}): "
                              f"{res.stderr.strip()[-400:] or res.stdout.strip()[-400:]}")
    return res.stdout


def timed_true(host, timeout: float = 60) -> float:
    """Seconds for one fresh `ssh host true`, end to end on the controller."""
    argv = ssh_argv(host) + ["true"]
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise HostUnreachable(f"{host.name}: `ssh ... true` failed (rc {res.returncode}): {res.stderr.strip()}")
    return seconds


def parse_times(stdout: str, tag: str) -> List[float]:
    """Lines `TAG <microseconds>` printed by a timed shell loop -> seconds."""
    out = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == tag:
            out.append(int(parts[1]) / 1e6)
    return out
