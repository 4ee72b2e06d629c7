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

from nictest.errors import HostUnreachable, StateError


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


# A bind/restore pair timed on the host, `reps` times: {bind} and {restore} are the shell
# commands of one direction each, {trap} what puts the NIC back whatever happens.
# $EPOCHREALTIME and builtins only around them: no process start inside the timed part
# beyond what the commands themselves run.
TIMED_LOOP = r"""
set -e
dev={address}; d=/sys/bus/pci/devices/$dev
[ "$(basename "$(readlink $d/driver)")" = {original} ] || {{ echo "NOT_ON_{original}"; exit 3; }}
trap '{trap}' EXIT
for i in $(seq {reps}); do
  t0=${{EPOCHREALTIME/./}}
  {bind}
  t1=${{EPOCHREALTIME/./}}
  {restore}
  t2=${{EPOCHREALTIME/./}}
  echo "BIND $((t1 - t0))"
  echo "RESTORE $((t2 - t1))"
done
[ "$(basename "$(readlink $d/driver)")" = {original} ] || {{ echo "NOT_BACK_ON_{original}"; exit 4; }}
"""


def timed_loop(host, what: str, *, address: str, original: str, reps: int, bind: str, restore: str,
               trap: str, timeout: float = 300) -> tuple:
    """Run TIMED_LOOP on the host: (bind seconds, restore seconds), `reps` of each.
    The commands may use $dev (the address) and $d (its sysfs directory)."""
    out = run(host, TIMED_LOOP.format(address=address, original=original, reps=reps, bind=bind,
                                      restore=restore, trap=trap), timeout=timeout)
    binds, restores = parse_times(out, "BIND"), parse_times(out, "RESTORE")
    if len(binds) != reps or len(restores) != reps:
        raise StateError(f"the {what} loop printed {len(binds)} bind / {len(restores)} restore times, "
                         f"want {reps}: {out[-300:]}")
    return binds, restores


def parse_times(stdout: str, tag: str) -> List[float]:
    """Lines `TAG <microseconds>` printed by a timed shell loop -> seconds."""
    out = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == tag:
            out.append(int(parts[1]) / 1e6)
    return out
