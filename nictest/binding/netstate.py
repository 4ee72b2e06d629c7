"""The netdev state saved before a bind and put back after: name, MAC, MTU, addresses, link.

Reads come from sysfs and rtnetlink; link up/down is one ioctl (nictest.binding.rtnl:
no process on the hot path). Rarer changes (rename, MAC, MTU, address add) go through
`ip` (argv, no shell). Every change is logged on logger nictest.binding.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
from typing import Any, Dict, List, Optional

from nictest.binding import rtnl
from nictest.errors import BindError
from nictest.pci.netdev import netdev_names
from nictest.pci.sysfs import PathLike, read_int, read_text, under

log = logging.getLogger("nictest.binding")

IFF_UP = 0x1


def run_ip(*args: str) -> str:
    argv = ["ip", *args]
    log.info("run %s", " ".join(argv))
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BindError(f"`{' '.join(argv)}` could not run: {exc}; is iproute2 installed?") from exc
    if done.returncode != 0:
        raise BindError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.decode().strip()}")
    return done.stdout.decode()


def device_netdevs(root: PathLike, address: str) -> List[str]:
    return netdev_names(under(root, "sys/bus/pci/devices", address))


def admin_up(root: PathLike, name: str) -> bool:
    flags = read_int(under(root, "sys/class/net", name, "flags"), base=16)
    return bool(flags and flags & IFF_UP)


# Kernel access points (module attributes, so tests on a synthetic tree can stand in for them).
read_addresses = rtnl.addresses
set_link = rtnl.set_link


def addresses(name: str) -> List[Dict[str, Any]]:
    """Configured addresses of `name` with the keys `ip -j addr` uses (family, local, prefixlen, scope...)."""
    return read_addresses(name)


def addresses_via_ip(name: str) -> List[Dict[str, Any]]:
    """The same from `ip -j addr` (kept to cross-check the rtnetlink reader)."""
    data = json.loads(run_ip("-j", "addr", "show", "dev", name) or "[]")
    found = []
    for link in data:
        for info in link.get("addr_info", []):
            found.append({key: info[key] for key in ("family", "local", "prefixlen", "scope", "dynamic",
                                                     "broadcast", "label") if key in info})
    return found


def restorable(address: Dict[str, Any]) -> bool:
    """Addresses worth putting back: not link-local (the kernel makes those) nor DHCP/SLAAC-made."""
    return address.get("scope") != "link" and not address.get("dynamic")


def snapshot(root: PathLike, name: Optional[str], with_addresses: bool = True) -> Dict[str, Any]:
    if not name:
        return {"netdev": None}
    base = under(root, "sys/class/net", name)
    return {
        "netdev": name,
        "mac": read_text(os.path.join(base, "address")),
        "mtu": read_int(os.path.join(base, "mtu")),
        "operstate": read_text(os.path.join(base, "operstate")),
        "link_up": admin_up(root, name),
        "addresses": addresses(name) if with_addresses else [],
    }


def link_down(name: str) -> None:
    log.info("link %s down", name)
    set_link(name, False)


def put_back(root: PathLike, current: str, saved: Dict[str, Any]) -> List[str]:
    """Make netdev `current` look like `saved`; returns what was changed."""
    changed = []
    name = saved.get("netdev") or current
    if current != name:
        ifindex = read_int(under(root, "sys/class/net", current, "ifindex"))
        try:
            set_link(current, False)
            run_ip("link", "set", "dev", current, "name", name)
            changed.append(f"renamed {current} -> {name}")
        except (BindError, OSError):
            # udev may finish its own rename to the saved name between our read and our
            # rename (seen with 8139cp): the name we wanted, on the same device (same ifindex).
            if ifindex is None or read_int(under(root, "sys/class/net", name, "ifindex")) != ifindex:
                raise
            log.info("%s was renamed %s by udev meanwhile", current, name)
    base = under(root, "sys/class/net", name)
    if saved.get("mac") and (read_text(os.path.join(base, "address")) or "").lower() != saved["mac"].lower():
        run_ip("link", "set", "dev", name, "address", saved["mac"])
        changed.append(f"mac {saved['mac']}")
    if saved.get("mtu") and read_int(os.path.join(base, "mtu")) != saved["mtu"]:
        run_ip("link", "set", "dev", name, "mtu", str(saved["mtu"]))
        changed.append(f"mtu {saved['mtu']}")
    if saved.get("link_up") and not admin_up(root, name):
        log.info("link %s up", name)
        set_link(name, True)
        changed.append("link up")
    present = {(a.get("local"), a.get("prefixlen")) for a in addresses(name)}
    for addr in saved.get("addresses", []):
        if restorable(addr) and (addr.get("local"), addr.get("prefixlen")) not in present:
            run_ip("addr", "add", f"{addr['local']}/{addr['prefixlen']}", "dev", name)
            changed.append(f"address {addr['local']}/{addr['prefixlen']}")
    return changed


def differences(root: PathLike, saved: Dict[str, Any], actual_name: Optional[str],
                now: Optional[Dict[str, Any]] = None) -> List[str]:
    """What does not match `saved` now; [] when the netdev is fully back. `now`: a snapshot
    of `actual_name` the caller already took."""
    name = saved.get("netdev")
    if not name:
        return []
    if actual_name != name:
        return [f"netdev is {actual_name or 'missing'}, expected {name}"]
    now = now or snapshot(root, name)
    problems = []
    if saved.get("mac") and (now["mac"] or "").lower() != saved["mac"].lower():
        problems.append(f"MAC is {now['mac']}, expected {saved['mac']}")
    if saved.get("mtu") and now["mtu"] != saved["mtu"]:
        problems.append(f"MTU is {now['mtu']}, expected {saved['mtu']}")
    if bool(saved.get("link_up")) != now["link_up"]:
        problems.append(f"link is {'up' if now['link_up'] else 'down'}, expected {'up' if saved.get('link_up') else 'down'}")
    present = {(a.get("local"), a.get("prefixlen")) for a in now["addresses"]}
    for addr in saved.get("addresses", []):
        if restorable(addr) and (addr.get("local"), addr.get("prefixlen")) not in present:
            problems.append(f"address {addr['local']}/{addr['prefixlen']} missing")
    return problems
