"""Link flags and addresses straight from the kernel (ioctl, rtnetlink), no `ip` process.

Forking `ip` costs ~0.1 s a time on a slow host, and bind/restore needed three to
five of them; these two reads and one write are all the hot path needs. Address
dicts have the keys `ip -j addr` gives (family, local, prefixlen, scope, dynamic,
broadcast, label), so saved journal entries compare either way.
"""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from typing import Any, Dict, List

from nictest.errors import BindError
from nictest.pci import netlink
from nictest.pci.netlink import IFA_ADDRESS, IFA_LOCAL

SIOCGIFFLAGS = 0x8913             # linux/sockios.h
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1                      # linux/if.h
IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, ifr_flags, padding to 40 bytes

IFA_LABEL, IFA_BROADCAST, IFA_FLAGS = 3, 4, 8  # linux/if_addr.h
IFA_F_PERMANENT = 0x80
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}


def _flags_call(name: str, request: int, flags: int = 0) -> int:
    raw = name.encode()
    if not raw or len(raw) > 15 or b"\0" in raw:  # IFNAMSIZ: a longer name would be cut to another one
        raise BindError(f"{name!r} is not a netdev name (1-15 bytes, no NUL)")
    ifr = IFREQ.pack(raw, flags)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            return IFREQ.unpack(fcntl.ioctl(sock, request, ifr))[1]
    except OSError as exc:
        raise BindError(f"{name}: cannot {'set' if request == SIOCSIFFLAGS else 'read'} link flags: {exc}") from exc


def set_link(name: str, up: bool) -> None:
    """`ip link set dev NAME up|down` as one ioctl."""
    flags = _flags_call(name, SIOCGIFFLAGS)
    _flags_call(name, SIOCSIFFLAGS, (flags | IFF_UP) if up else (flags & ~IFF_UP))


def _address(family: int, prefixlen: int, flags: int, scope: int, attrs: Dict[int, bytes]) -> Dict[str, Any]:
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS) or b""
    if IFA_FLAGS in attrs:
        flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
    entry: Dict[str, Any] = {"family": FAMILIES.get(family, str(family)),
                             "local": str(ipaddress.ip_address(raw)) if raw else None,
                             "prefixlen": prefixlen, "scope": SCOPES.get(scope, str(scope))}
    if not flags & IFA_F_PERMANENT:
        entry["dynamic"] = True
    if IFA_BROADCAST in attrs:
        entry["broadcast"] = str(ipaddress.ip_address(attrs[IFA_BROADCAST]))
    if IFA_LABEL in attrs:
        entry["label"] = attrs[IFA_LABEL].rstrip(b"\0").decode(errors="replace")
    return entry


def addresses(name: str) -> List[Dict[str, Any]]:
    """The addresses on netdev `name`, one RTM_GETADDR dump filtered by its ifindex."""
    try:
        index = socket.if_nametoindex(name)
    except OSError as exc:
        raise BindError(f"no netdev {name!r}: {exc}") from exc
    try:
        dump = netlink.address_dump()
    except netlink.NetlinkError as exc:
        raise BindError(f"rtnetlink address dump failed: {exc}") from exc
    return [_address(family, prefixlen, flags, scope, found)
            for (family, prefixlen, flags, scope, ifindex), found in dump if ifindex == index]
