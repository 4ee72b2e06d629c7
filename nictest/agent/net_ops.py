"""Read-only views of the host's network state, as the kernel's own tools report it."""
from __future__ import annotations

import json
import subprocess

from nictest.agent.ops import op
from nictest.errors import PrerequisiteMissing, RefusedError, StateError


def netdev_name(ifname: str) -> str:
    """`ifname` if the kernel could have named a netdev so (its dev_valid_name rules); ops
    build /sys and /proc paths from it, so "..", "/" and the like are refused here."""
    if (not ifname or len(ifname.encode()) > 15 or ifname in (".", "..")
            or any(c in ifname for c in "/:") or any(c.isspace() for c in ifname)):
        raise RefusedError(f"{ifname!r} is not a netdev name (1-15 bytes, no '/', ':' or spaces, not . or ..)")
    return ifname


def ip_json(*argv: str) -> list:
    """`ip -j ...` as parsed JSON (argv, never a shell)."""
    try:
        out = subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, timeout=10, check=True)
    except FileNotFoundError:
        raise PrerequisiteMissing("the `ip` command is missing: apt-get install iproute2") from None
    return json.loads(out.stdout or "[]")


def ip(*argv: str, check: bool = True, timeout: float = 15) -> subprocess.CompletedProcess:
    """`ip ...` (argv, never a shell); StateError with its stderr when it fails and `check`."""
    try:
        res = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise PrerequisiteMissing("the `ip` command is missing: apt-get install iproute2") from None
    if check and res.returncode != 0:
        raise StateError(f"ip {' '.join(argv)}: {res.stderr.strip()}")
    return res


def link_flags(ifname: str, netns: str = "") -> list:
    """The netdev's flags (UP, LOWER_UP, ...), in network namespace `netns` when given."""
    links = ip_json(*(("-n", netns) if netns else ()), "link", "show", "dev", ifname)
    if not links:
        where = f" in netns {netns}" if netns else ""
        raise StateError(f"no netdev {ifname}{where}: is the NIC on its kernel driver?")
    return links[0].get("flags", [])


@op("ip_links")
def ip_links(agent) -> list:
    """Every netdev as `ip -j link` reports it (ifname, address, mtu, operstate, flags)."""
    return ip_json("link", "show")


@op("ip_addrs")
def ip_addrs(agent) -> list:
    return ip_json("addr", "show")
